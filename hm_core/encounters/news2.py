"""Vital-sign validation and the NEWS2 early-warning score — pure Python, no Django.

Source: Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the
assessment of acute-illness severity in the NHS. Updated report of a working party. London:
RCP, 2017 — the observation chart (chart 1) and the clinical-response thresholds (table 2).

Choices made here, and why:

- SpO2 scale 1 only. Scale 2 (target 88-92 %, for hypercapnic respiratory failure) must be
  prescribed by a clinician per patient; we do not record that prescription, so such patients
  are over-scored on SpO2 rather than silently under-scored.
- The chart's band edges are used exactly: integer parameters are banded on their integer
  value; temperature on Celsius with one decimal, the resolution the chart is printed in.
  Fahrenheit (our API default) is converted as (F - 32) * 5 / 9 in `Decimal` and rounded
  half-up to one decimal BEFORE banding, so 98.6 °F is 37.0 °C and 95.0 °F is 35.0 °C (3).
- Consciousness is ACVPU. Only a recorded "A" scores 0; any other value — including one
  `vitals_problems` would reject — scores 3, so bad data can only raise the score (fail-safe).
- A missing respiratory rate is not guessed: the score covers the other six parameters,
  `complete` is False and `respiration_rate` is absent. Such a total is a floor, not a score.
- `news2` does not validate: callers check `vitals_problems` first (the encounter domain
  refuses impossible vitals with 422). Out-of-range numbers fall in the chart's extreme bands
  (3 points). Only an unknown temperature unit raises `ValueError`, as it cannot be read.
- `vitals_problems` rejects what is physiologically impossible, never what is merely
  abnormal: abnormal is exactly what NEWS2 exists to flag.

NEWS2 is not validated for under-16s or in pregnancy; interpreting it there is clinical work.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeAlias

TEMPERATURE_UNITS = ("F", "C")
CONSCIOUSNESS_LEVELS = ("A", "C", "V", "P", "U")  # ACVPU; C is new confusion

_ONE_DECIMAL = Decimal("0.1")
_MIN_CELSIUS, _MAX_CELSIUS = Decimal("25.0"), Decimal("45.0")

# Each chart row: (inclusive upper edge, points) in ascending order, then the points above.
_Bands: TypeAlias = tuple[tuple[tuple[int | Decimal, int], ...], int]
_RESPIRATION_RATE: _Bands = (((8, 3), (11, 1), (20, 0), (24, 2)), 3)
_SPO2_SCALE_1: _Bands = (((91, 3), (93, 2), (95, 1)), 0)
_SYSTOLIC_BP: _Bands = (((90, 3), (100, 2), (110, 1), (219, 0)), 3)
_PULSE: _Bands = (((40, 3), (50, 1), (90, 0), (110, 1), (130, 2)), 3)
_TEMPERATURE_C: _Bands = (
    ((Decimal("35.0"), 3), (Decimal("36.0"), 1), (Decimal("38.0"), 0), (Decimal("39.0"), 1)),
    2,
)
_OXYGEN_POINTS = 2
_NOT_ALERT_POINTS = 3


@dataclass(frozen=True)
class Vitals:
    """One set of observations as recorded; temperature is in `temperature_unit`."""

    blood_pressure_systolic: int
    blood_pressure_diastolic: int
    pulse: int
    temperature: Decimal
    spo2: int
    temperature_unit: str = "F"  # "F" is the API contract's default; "C" also accepted
    respiratory_rate: int | None = None
    consciousness: str = "A"
    supplemental_oxygen: bool = False  # False means breathing room air

    def temperature_celsius(self) -> Decimal:
        """Celsius rounded half-up to one decimal: the resolution the NEWS2 chart is defined on.

        Raises ValueError for a unit other than "F" or "C": there is no safe guess.
        """
        value = Decimal(str(self.temperature))  # str() keeps a float's printed digits
        if self.temperature_unit == "C":
            celsius = value
        elif self.temperature_unit == "F":
            celsius = (value - 32) * 5 / 9
        else:
            raise ValueError(
                f"Unknown temperature unit {self.temperature_unit!r}; expected 'F' or 'C'."
            )
        return celsius.quantize(_ONE_DECIMAL, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class VitalsProblem:
    """One impossible value: the request field it concerns and a message a clinician can read."""

    field: str
    message: str


def vitals_problems(v: Vitals) -> list[VitalsProblem]:
    """Physiologically impossible values (not merely abnormal ones), every one of them.

    All problems are returned at once so the person at the bedside can fix the whole set
    in one go; an empty list means the vitals can be stored and scored.
    """
    problems = [
        *_out_of_range("blood_pressure_systolic", v.blood_pressure_systolic, 40, 300, "mmHg"),
        *_out_of_range("blood_pressure_diastolic", v.blood_pressure_diastolic, 10, 200, "mmHg"),
        *_pulse_pressure_problems(v),
        *_out_of_range("pulse", v.pulse, 20, 300, "beats/min"),
        *_temperature_problems(v),
        *_out_of_range("spo2", v.spo2, 0, 100, "%"),
    ]
    if v.respiratory_rate is not None:
        problems += _out_of_range("respiratory_rate", v.respiratory_rate, 1, 80, "breaths/min")
    if v.consciousness not in CONSCIOUSNESS_LEVELS:
        message = f"must be one of A, C, V, P, U (ACVPU); got {v.consciousness!r}"
        problems.append(VitalsProblem("consciousness", message))
    return problems


def _out_of_range(field: str, value: int, low: int, high: int, unit: str) -> list[VitalsProblem]:
    """At most one problem, naming the plausible range so the message says what to fix."""
    if low <= value <= high:
        return []
    return [VitalsProblem(field, f"must be between {low} and {high} {unit}; got {value}")]


def _pulse_pressure_problems(v: Vitals) -> list[VitalsProblem]:
    """Systolic is the peak pressure, so it must exceed diastolic; reported on diastolic."""
    if v.blood_pressure_systolic > v.blood_pressure_diastolic:
        return []
    message = (
        f"must be lower than the systolic pressure; got {v.blood_pressure_diastolic} mmHg "
        f"with systolic {v.blood_pressure_systolic} mmHg"
    )
    return [VitalsProblem("blood_pressure_diastolic", message)]


def _temperature_problems(v: Vitals) -> list[VitalsProblem]:
    """The unit must be known and the temperature survivable: 25.0-45.0 °C (77.0-113.0 °F).

    The range is checked on the one-decimal Celsius value, the same one NEWS2 bands, so what
    is accepted and what is scored can never disagree.
    """
    if v.temperature_unit not in TEMPERATURE_UNITS:
        message = f"must be 'F' or 'C'; got {v.temperature_unit!r}"
        return [VitalsProblem("temperature_unit", message)]
    if not Decimal(str(v.temperature)).is_finite():
        return [VitalsProblem("temperature", f"must be a number; got {v.temperature}")]
    celsius = v.temperature_celsius()
    if _MIN_CELSIUS <= celsius <= _MAX_CELSIUS:
        return []
    message = (
        f"must be between 25.0 and 45.0 °C (77.0 and 113.0 °F); "
        f"got {v.temperature} °{v.temperature_unit} ({celsius} °C)"
    )
    return [VitalsProblem("temperature", message)]


@dataclass(frozen=True)
class News2Score:
    """A NEWS2 aggregate, its per-parameter points and the RCP clinical-risk band."""

    total: int
    parameters: dict[str, int]  # chart order; respiration_rate absent when not measured
    max_single: int
    risk: str  # "low", "low_medium", "medium" or "high"
    complete: bool  # False when respiratory rate was not measured
    alert: bool  # total >= 5 or a single parameter scoring 3: our system raises an alert


def news2(v: Vitals) -> News2Score:
    """Score vitals on the NEWS2 chart (SpO2 scale 1); see the module docstring for choices.

    Call `vitals_problems` first: scoring impossible values is meaningless, though it never
    under-scores them. Raises ValueError only for an unknown temperature unit.
    """
    parameters = _parameters(v)
    total = sum(parameters.values())
    max_single = max(parameters.values())
    return News2Score(
        total=total,
        parameters=parameters,
        max_single=max_single,
        risk=_risk(total, max_single),
        complete=v.respiratory_rate is not None,
        alert=total >= 5 or max_single >= 3,
    )


def _parameters(v: Vitals) -> dict[str, int]:
    """Points per chart row, in chart order; an unmeasured respiratory rate is left out."""
    parameters: dict[str, int] = {}
    if v.respiratory_rate is not None:
        parameters["respiration_rate"] = _band(v.respiratory_rate, _RESPIRATION_RATE)
    parameters["spo2"] = _band(v.spo2, _SPO2_SCALE_1)
    parameters["air_or_oxygen"] = _OXYGEN_POINTS if v.supplemental_oxygen else 0
    parameters["systolic_bp"] = _band(v.blood_pressure_systolic, _SYSTOLIC_BP)
    parameters["pulse"] = _band(v.pulse, _PULSE)
    parameters["consciousness"] = 0 if v.consciousness == "A" else _NOT_ALERT_POINTS
    parameters["temperature"] = _band(v.temperature_celsius(), _TEMPERATURE_C)
    return parameters


def _band(value: int | Decimal, bands: _Bands) -> int:
    """Points of the first band whose inclusive upper edge holds the value, else the top band."""
    edges, above = bands
    for upper, points in edges:
        if value <= upper:
            return points
    return above


def _risk(total: int, max_single: int) -> str:
    """RCP clinical risk: an aggregate of 5+ outranks a single red score (3 in one parameter)."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if max_single >= 3:
        return "low_medium"
    return "low"
