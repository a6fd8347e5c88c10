"""Observation ← vitals records (vital-signs, immutable) and lab results (laboratory, one per
analyte; every version rebuilt from the result's stream). DiagnosticReport ← result versions."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from hm_core.common.db import JSONArrayLength
from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.encounters.selectors import vitals_get, vitals_list
from hm_core.events.base import EventMeta
from hm_core.fhir import params
from hm_core.fhir.mappers import labs, vitals
from hm_core.fhir.mappers.common import ANALYTE_SYSTEM, LOINC, SERVICE_SYSTEM, fold_stream
from hm_core.fhir.registry import (
    Criteria,
    Mapper,
    SearchParam,
    Source,
    Version,
    parse_uuid,
    register,
)
from hm_core.lab.events import ResultCorrected, ResultEntered, ResultReleased, ResultVerified
from hm_core.lab.selectors import (
    ResultFilters,
    lab_result_get,
    lab_result_list,
    lab_result_version_list,
)

# Lab results expanded at a time when a `code` filter makes the database unable to count.
TOTAL_BATCH = 500
_OBS_STATUS = {
    "preliminary": ("ENTERED", "VERIFIED"),
    "final": ("RELEASED",),
    "corrected": ("CORRECTED",),
}
_REF_PARAMS = {"patient": "Patient", "subject": "Patient", "encounter": "Encounter"}


def _current_state(row: Any) -> dict[str, Any]:
    return {
        "values": row.values,
        "status": row.status,
        "issued": row.released_at,
        "comment": row.comment,
    }


_LAB_STATUS = {
    ResultEntered.event_type: "ENTERED",
    ResultVerified.event_type: "VERIFIED",
    ResultReleased.event_type: "RELEASED",
    ResultCorrected.event_type: "CORRECTED",
}


def _apply_lab(state: dict[str, Any], event: Any, meta: EventMeta) -> None:
    if isinstance(event, ResultEntered | ResultReleased | ResultCorrected):
        state["values"] = [v.model_dump() for v in event.values]
    if isinstance(event, ResultEntered | ResultCorrected):
        state["comment"] = event.comment
    status = _LAB_STATUS.get(event.event_type)
    if status:
        state["status"] = status
    if isinstance(event, ResultReleased | ResultCorrected):
        state["issued"] = meta.recorded_at


def _split(resource_id: str) -> tuple[uuid.UUID, str]:
    """`<row uuid>-<suffix>`: the vitals record or lab result, and which of its Observations."""
    if len(resource_id) < 38 or resource_id[36] != "-":
        raise NotFound(details={"resource": "Observation"})
    return parse_uuid(resource_id[:36], "Observation"), resource_id[37:]


def _index_of(values: list[dict[str, Any]], suffix: str) -> int:
    for index, value in enumerate(values):
        if labs.analyte_key(value["code"], index) == suffix:
            return index
    raise NotFound(details={"resource": "Observation"})


class ObservationMapper(Mapper):
    resource_type = "Observation"
    permission = "results.view"
    search_params = (
        SearchParam("patient", "reference", "The patient (Patient/<id>)"),
        SearchParam("subject", "reference", "The patient (Patient/<id>)"),
        SearchParam("encounter", "reference", "The encounter (Encounter/<id>)"),
        SearchParam("category", "token", "vital-signs | laboratory"),
        SearchParam("code", "token", f"LOINC ({LOINC}) or analyte code ({ANALYTE_SYSTEM})"),
        SearchParam("date", "date", "When it was measured or reported"),
        SearchParam("status", "token", "preliminary | final | corrected"),
    )

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        row_id, suffix = _split(resource_id)
        if suffix in vitals.KINDS:
            return [self._vital(scope, row_id, suffix)]
        result = lab_result_get(scope=scope, result_id=row_id)
        index = _index_of(result.values, suffix)
        spec = labs.catalog(scope.tenant_id, {result.service_code}).get(result.service_code)
        return fold_stream(
            scope,
            result.id,
            apply=_apply_lab,
            render=lambda state: (
                labs.lab_observation(result, state, index, spec),
                result.patient_id,
            ),
        )

    def read(self, scope: Scope, resource_id: str) -> Version:
        row_id, suffix = _split(resource_id)
        if suffix in vitals.KINDS:
            return self._vital(scope, row_id, suffix)
        result = lab_result_get(scope=scope, result_id=row_id)
        return _lab_versions(scope, [result], codes=None)[0][_index_of(result.values, suffix)]

    def _vital(self, scope: Scope, row_id: uuid.UUID, kind: str) -> Version:
        row = vitals_get(scope=scope, vitals_id=row_id)
        if kind not in vitals.kinds_of(row):
            raise NotFound(details={"resource": "Observation"})
        return vitals.vital_observation(row, kind)

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        categories = _categories(criteria.get("category", []))
        codes = _codes(criteria.get("code", []))
        sources = []
        if "vital-signs" in categories:
            sources.append(_vitals_source(scope, criteria, codes))
        if "laboratory" in categories:
            sources.append(_lab_source(scope, criteria, codes))
        return sources


def _categories(values: list[str]) -> set[str]:
    found = {"vital-signs", "laboratory"}
    for value in values:
        found &= set(
            params.token_codes(
                value, system="http://terminology.hl7.org/CodeSystem/observation-category"
            )
        )
    return found


def _codes(values: list[str]) -> list[set[str]] | None:
    """Each `code` parameter as a set of `system|code` keys (OR within, AND between)."""
    if not values:
        return None
    return [{f"{s or ''}|{c}" for s, c in map(params.token, params.or_values(v))} for v in values]


def _matches(coding: list[dict[str, str]], codes: list[set[str]] | None) -> bool:
    if codes is None:
        return True
    keys = {f"{c['system']}|{c['code']}" for c in coding} | {f"|{c['code']}" for c in coding}
    bare = {c["code"] for c in coding}
    return all(
        any(k in keys or (k.startswith("|") and k[1:] in bare) for k in wanted) for wanted in codes
    )


def _filter(
    rows: QuerySet[Any], criteria: Criteria, *, date_field: str, status_field: str | None
) -> QuerySet[Any]:
    for name, values in criteria.items():
        for value in values:
            if name in _REF_PARAMS:
                column = "encounter_id" if name == "encounter" else "patient_id"
                rows = rows.filter(params.reference_q(column, value, _REF_PARAMS[name]))
            elif name == "date":
                rows = rows.filter(params.date_q(date_field, value))
            elif name == "status":
                wanted = [s for v in params.or_values(value) for s in _OBS_STATUS.get(v, ())]
                if status_field is None:
                    rows = rows if "final" in params.or_values(value) else rows.none()
                else:
                    rows = rows.filter(Q(**{f"{status_field}__in": wanted}))
    return rows


def _vitals_source(scope: Scope, criteria: Criteria, codes: list[set[str]] | None) -> Source:
    kinds = [k for k in vitals.KINDS if _matches(_vital_coding(k), codes)]
    rows = _filter(vitals_list(scope=scope), criteria, date_field="recorded_at", status_field=None)
    if not kinds:
        rows = rows.none()

    def expand(batch: list[Any]) -> list[list[Version]]:
        return [
            [vitals.vital_observation(r, k) for k in vitals.kinds_of(r) if k in kinds]
            for r in batch
        ]

    def total(qs: QuerySet[Any]) -> int:
        """Every kind but the respiratory rate is in every record; one aggregate counts both."""
        counted = qs.aggregate(records=Count("pk"), rr=Count("respiratory_rate"))
        fixed = len([k for k in kinds if k != "rr"]) * counted["records"]
        return fixed + (counted["rr"] if "rr" in kinds else 0)

    return Source(rows=rows, expand=expand, total=total)


def _vital_coding(kind: str) -> list[dict[str, str]]:
    coding = [{"system": LOINC, "code": vitals.KINDS[kind][0]}]
    return coding + ([{"system": LOINC, "code": "2708-6"}] if kind == "spo2" else [])


def _lab_source(scope: Scope, criteria: Criteria, codes: list[set[str]] | None) -> Source:
    rows = lab_result_list(scope=scope, filters=ResultFilters())
    rows = _filter(rows, criteria, date_field="created_at", status_field="status")
    return Source(
        rows=rows,
        expand=lambda batch: _lab_versions(scope, batch, codes=codes),
        total=lambda qs: _lab_total(scope, qs, codes=codes),
    )


def _lab_total(scope: Scope, results: QuerySet[Any], *, codes: list[set[str]] | None) -> int:
    """Observations of `results`: one per analyte, summed by the database; with a `code`
    filter (matched on each analyte's catalog coding) counted in batches of rows, so memory
    stays flat however many results match."""
    if codes is None:
        return results.aggregate(n=Coalesce(Sum(JSONArrayLength("values")), 0))["n"]
    return sum(
        len(page)
        for batch in _batches(results.order_by("pk"), TOTAL_BATCH)
        for page in _lab_versions(scope, batch, codes=codes)
    )


def _batches(rows: QuerySet[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows.iterator(chunk_size=size):
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _lab_versions(
    scope: Scope, results: list[Any], *, codes: list[set[str]] | None
) -> list[list[Version]]:
    specs = labs.catalog(scope.tenant_id, {r.service_code for r in results})
    pages = []
    for result in results:
        state = _current_state(result)
        spec = specs.get(result.service_code)
        found = []
        for index in range(len(result.values)):
            resource = labs.lab_observation(result, state, index, spec)
            if _matches(resource["code"]["coding"], codes):
                found.append(
                    Version(resource, result.version, result.updated_at, result.patient_id)
                )
        pages.append(found)
    return pages


class DiagnosticReportMapper(Mapper):
    resource_type = "DiagnosticReport"
    permission = "results.view"
    search_params = (
        SearchParam("patient", "reference", "The patient (Patient/<id>)"),
        SearchParam("subject", "reference", "The patient (Patient/<id>)"),
        SearchParam("encounter", "reference", "The encounter (Encounter/<id>)"),
        SearchParam("status", "token", "preliminary | final | corrected"),
        SearchParam("code", "token", f"LOINC or service code ({SERVICE_SYSTEM})"),
        SearchParam("date", "date", "When the result was entered"),
    )

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        uid = parse_uuid(resource_id, self.resource_type)
        rows = list(lab_result_version_list(scope=scope).filter(id=uid))
        if not rows:
            raise NotFound(details={"resource": self.resource_type})
        return self._expand(scope, rows, codes=None)[0]

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        codes = _codes(criteria.pop("code", []))
        results = lab_result_list(scope=scope, filters=ResultFilters())
        results = _filter(results, criteria, date_field="created_at", status_field="status")
        rows = _report_versions(scope, results)
        return [
            Source(
                rows=rows,
                expand=lambda batch: self._expand(scope, batch, codes=codes),
                total=lambda qs: (
                    qs.count()  # one report per version unless a code filter drops some
                    if codes is None
                    else sum(
                        len(page)
                        for batch in _batches(qs.order_by("pk"), TOTAL_BATCH)
                        for page in self._expand(scope, batch, codes=codes)
                    )
                ),
            )
        ]

    def _expand(
        self, scope: Scope, versions: list[Any], *, codes: list[set[str]] | None
    ) -> list[list[Version]]:
        results = {r.id: r for r in lab_result_list(scope=scope, filters=ResultFilters()).filter(
            id__in={v.result_id for v in versions})}  # fmt: skip
        specs = labs.catalog(scope.tenant_id, {r.service_code for r in results.values()})
        pages = []
        for version in versions:
            result = results[version.result_id]
            latest = version.version == result.versions
            resource = labs.diagnostic_report(
                result, version, latest=latest, spec=specs.get(result.service_code)
            )
            stamp = (
                (result.version, result.updated_at)
                if latest
                else (version.version, version.created_at)
            )
            keep = _matches(resource["code"]["coding"], codes)
            pages.append([Version(resource, stamp[0], stamp[1], result.patient_id)] if keep else [])
        return pages


def _report_versions(scope: Scope, results: QuerySet[Any]) -> QuerySet[Any]:
    """The reported versions of `results`. A version names no patient, so the patient role's
    row rule (§17) would keep none of them: for a patient's own account they are the versions
    of the results it may see, which `results` (read with its own scope: its patient, released
    only) already is."""
    if scope.principal.restricted:
        principal = dataclasses.replace(scope.principal, restricted=False, patient_id=None)
        scope = dataclasses.replace(scope, principal=principal)
    return lab_result_version_list(scope=scope).filter(result_id__in=results.values("id"))


register(ObservationMapper())
register(DiagnosticReportMapper())
