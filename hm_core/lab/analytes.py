"""Result payloads and abnormal flags — pure Python, no Django.

A result payload may take any of three shapes; all are normalised to `AnalyteValue`s in the
catalog's analyte order:

    {"analytes": [{"code": "K", "value": 7.1, "unit": "mmol/L"}], "comment": "..."}
    {"K": {"value": 7.1, "unit": "mmol/L"}, "comment": "..."}     a mapping by analyte code
    {"value": 7.1, "unit": "mmol/L", "comment": "..."}            single-analyte services only

`comment` is optional in every shape; any other unknown key is refused. Every analyte must be
a catalog analyte of the service, reported once, in exactly the catalog's unit (units are
case-sensitive, as in UCUM), and every catalog analyte of the service must be reported. All
problems are reported together as one 422 whose details name each field.

A value is a JSON number or text. Numbers and numeric text are kept as exact decimal text
("7.10" stays "7.10"; the JSON number 7.10 arrives as 7.1) and are flagged; other text
("positive", "<0.5") is kept as sent and gets no flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hm_core.common.errors import ValidationFailed
from hm_core.lab.events import AnalyteValue

if TYPE_CHECKING:
    from hm_core.catalog.selectors import AnalyteSpec, ServiceSpec

LOW, HIGH, CRITICAL_LOW, CRITICAL_HIGH = "L", "H", "LL", "HH"
CRITICAL_FLAGS = frozenset({CRITICAL_LOW, CRITICAL_HIGH})
ROOT = "result_payload"
VALUE_MAX_LENGTH = 64
COMMENT_MAX_LENGTH = 1000
_ANALYTE_KEYS = frozenset({"code", "value", "unit"})
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?$")
_MISSING: Any = object()

Problems = list[dict[str, str]]


@dataclass(frozen=True)
class Reported:
    """One analyte as the client sent it, with where it sat in the payload."""

    code: str
    value: Any
    unit: Any
    field: str


def flag(value: Decimal, spec: AnalyteSpec) -> str:
    """The abnormal flag of a numeric value; every limit is inclusive of its own side.

    critical_low: value <= limit → LL; critical_high: value >= limit → HH (checked first).
    The reference range is inclusive: a value equal to reference_low or reference_high is
    normal; below it → L, above it → H. A limit the catalog leaves empty is never crossed.
    """
    if spec.critical_low is not None and value <= spec.critical_low:
        return CRITICAL_LOW
    if spec.critical_high is not None and value >= spec.critical_high:
        return CRITICAL_HIGH
    if spec.reference_low is not None and value < spec.reference_low:
        return LOW
    if spec.reference_high is not None and value > spec.reference_high:
        return HIGH
    return ""


def any_critical(values: list[AnalyteValue]) -> bool:
    """True when some value is at or beyond a critical limit (LL or HH)."""
    return any(value.flag in CRITICAL_FLAGS for value in values)


def reference_range(spec: AnalyteSpec) -> str:
    """The reference range as printed on a report: "3.5-5.1", "<=5.2", ">=1" or ""."""
    low, high = spec.reference_low, spec.reference_high
    if low is not None and high is not None:
        return f"{_plain(low)}-{_plain(high)}"
    if high is not None:
        return f"<={_plain(high)}"
    return f">={_plain(low)}" if low is not None else ""


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


def normalise(payload: dict[str, Any], *, service: ServiceSpec) -> tuple[list[AnalyteValue], str]:
    """The payload's values, checked against the catalog and flagged, and its comment."""
    problems: Problems = []
    comment = _comment(payload.get("comment", ""), problems)
    body = {key: value for key, value in payload.items() if key != "comment"}
    reported = _reported(body, service=service, problems=problems)
    values = _checked(reported, service=service, problems=problems)
    if problems:
        raise ValidationFailed("The result payload is not valid.", details=problems)
    return values, comment


def _comment(raw: Any, problems: Problems) -> str:
    if not isinstance(raw, str) or len(raw) > COMMENT_MAX_LENGTH:
        problems.append(_problem("comment", f"must be text of at most {COMMENT_MAX_LENGTH}"))
        return ""
    return raw.strip()


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": f"{ROOT}.{field}" if field else ROOT, "message": message}


def _reported(body: dict[str, Any], *, service: ServiceSpec, problems: Problems) -> list[Reported]:
    """Recognise the payload's shape: a list of analytes, one bare value, or a mapping."""
    if "analytes" in body:
        _refuse_unknown(body, {"analytes"}, "", problems)
        return _from_list(body["analytes"], problems)
    if "value" in body or "unit" in body:
        return _from_single(body, service=service, problems=problems)
    return _from_mapping(body, problems)


def _refuse_unknown(item: dict[str, Any], known: set[str], at: str, problems: Problems) -> None:
    for key in sorted(set(item) - known, key=str):
        problems.append(_problem(f"{at}.{key}" if at else str(key), "unknown field"))


def _from_list(items: Any, problems: Problems) -> list[Reported]:
    if not isinstance(items, list) or not items:
        problems.append(_problem("analytes", "must be a non-empty list of {code, value, unit}"))
        return []
    reported = []
    for index, item in enumerate(items):
        at = f"analytes.{index}"
        if not isinstance(item, dict):
            problems.append(_problem(at, "must be an object {code, value, unit}"))
            continue
        _refuse_unknown(item, set(_ANALYTE_KEYS), at, problems)
        code = item.get("code")
        if not isinstance(code, str) or not code.strip():
            problems.append(_problem(f"{at}.code", "is required"))
            continue
        reported.append(
            Reported(code.strip(), item.get("value", _MISSING), item.get("unit", _MISSING), at)
        )
    return reported


def _from_single(
    body: dict[str, Any], *, service: ServiceSpec, problems: Problems
) -> list[Reported]:
    if len(service.analytes) != 1:
        codes = ", ".join(a.code for a in service.analytes)
        problems.append(
            _problem("", f"{service.code} reports several analytes ({codes}): send 'analytes'")
        )
        return []
    _refuse_unknown(body, {"value", "unit"}, "", problems)
    code = service.analytes[0].code
    return [Reported(code, body.get("value", _MISSING), body.get("unit", _MISSING), "")]


def _from_mapping(body: dict[str, Any], problems: Problems) -> list[Reported]:
    reported = []
    for code, item in body.items():
        if not isinstance(item, dict):
            problems.append(_problem(str(code), "must be an object {value, unit}"))
            continue
        _refuse_unknown(item, {"value", "unit"}, str(code), problems)
        reported.append(
            Reported(str(code), item.get("value", _MISSING), item.get("unit", _MISSING), str(code))
        )
    return reported


def _checked(
    reported: list[Reported], *, service: ServiceSpec, problems: Problems
) -> list[AnalyteValue]:
    """Check each reported analyte against the catalog; name every missing one."""
    specs = {spec.code: spec for spec in service.analytes}
    values: dict[str, AnalyteValue] = {}
    seen: set[str] = set()
    for item in reported:
        spec = specs.get(item.code)
        if spec is None:
            message = f"unknown analyte {item.code!r} for {service.code}"
            problems.append(_problem(_code_field(item), message))
        elif item.code in seen:
            problems.append(_problem(_code_field(item), f"{item.code!r} is reported twice"))
        else:
            seen.add(item.code)
            value = _analyte_value(item, spec, problems)
            if value is not None:
                values[item.code] = value
    missing = [spec.code for spec in service.analytes if spec.code not in seen]
    if missing:
        problems.append(_problem("", f"missing analytes: {', '.join(missing)}"))
    return [values[spec.code] for spec in service.analytes if spec.code in values]


def _code_field(item: Reported) -> str:
    return f"{item.field}.code" if item.field.startswith("analytes.") else item.field


def _analyte_value(item: Reported, spec: AnalyteSpec, problems: Problems) -> AnalyteValue | None:
    at = f"{item.field}." if item.field else ""
    before = len(problems)
    text, number = _value(item.value, f"{at}value", problems)
    _check_unit(item.unit, spec, f"{at}unit", problems)
    if len(problems) > before:
        return None
    return AnalyteValue(
        code=spec.code,
        value=text,
        unit=spec.unit,
        flag=flag(number, spec) if number is not None else "",
        reference_range=reference_range(spec),
    )


def _value(raw: Any, field: str, problems: Problems) -> tuple[str, Decimal | None]:
    """Exact decimal text and its number, or the text as sent (no number) for qualitative values."""
    if raw is _MISSING or raw is None or (isinstance(raw, str) and not raw.strip()):
        problems.append(_problem(field, "is required"))
        return "", None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        problems.append(_problem(field, "must be a number or text"))
        return "", None
    text, number = str(raw).strip(), None
    if _NUMBER.match(text):
        number = Decimal(text)
        text = format(number, "f")
    elif not isinstance(raw, str):
        problems.append(_problem(field, "must be a finite number"))
    if len(text) > VALUE_MAX_LENGTH:
        problems.append(_problem(field, f"must be at most {VALUE_MAX_LENGTH} characters"))
    return text, number


def _check_unit(raw: Any, spec: AnalyteSpec, field: str, problems: Problems) -> None:
    if raw is _MISSING or raw is None or (isinstance(raw, str) and not raw.strip()):
        problems.append(_problem(field, f"is required ({spec.unit} for {spec.code})"))
    elif not isinstance(raw, str) or raw.strip() != spec.unit:
        problems.append(_problem(field, f"must be {spec.unit!r} for {spec.code}, not {raw!r}"))


_SEVERITY = {"": 0, LOW: 1, HIGH: 1, CRITICAL_LOW: 2, CRITICAL_HIGH: 2}


def with_reported_flags(
    values: list[AnalyteValue], *, flags: dict[str, str], ranges: dict[str, str]
) -> list[AnalyteValue]:
    """An outside laboratory's own abnormal flag and reference range beside the catalog's.

    The more severe flag wins: a value the laboratory calls critical (LL/HH) is critical here,
    and a value beyond the catalog's critical limits stays critical whatever it said. Flags
    outside L/H/LL/HH (A, N, ...) add nothing. The laboratory's range is the one it measured
    against, so it is the one shown when it sent one.
    """
    merged = []
    for value in values:
        reported = flags.get(value.code, "").upper()
        reported = reported if reported in _SEVERITY else ""
        flag = reported if _SEVERITY[reported] > _SEVERITY[value.flag] else value.flag
        shown = ranges.get(value.code) or value.reference_range
        merged.append(value.model_copy(update={"flag": flag, "reference_range": shown}))
    return merged
