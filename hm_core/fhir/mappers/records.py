"""ImagingStudy ← imaging studies linked to a patient; AuditEvent ← the audit trail
(`audit.view` only). Both are served in their current version (no stream per row)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q

from hm_core.audit.selectors import AuditFilters, audit_record_list
from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.fhir import params
from hm_core.fhir.mappers.clinical import PATIENT, filtered
from hm_core.fhir.mappers.common import ACCESSION_SYSTEM, drop_empty, ref
from hm_core.fhir.registry import (
    Criteria,
    Mapper,
    SearchParam,
    Source,
    Version,
    parse_uuid,
    register,
)
from hm_core.imaging.selectors import StudyFilters, study_list

DCM = "http://dicom.nema.org/resources/ontology/DCM"


def imaging_study(study: Any) -> dict[str, Any]:
    started = (
        f"{study.study_date.isoformat()}T00:00:00+00:00" if study.study_date is not None else None
    )
    return drop_empty(
        {
            "resourceType": "ImagingStudy",
            "id": str(study.id),
            "identifier": [
                {"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_instance_uid}"},
                *(
                    [{"system": ACCESSION_SYSTEM, "value": study.accession_number}]
                    if study.accession_number
                    else []
                ),
            ],
            "status": "available",
            "modality": [{"system": DCM, "code": m} for m in study.modalities.split(",") if m],
            "subject": ref("Patient", study.patient_id),
            "encounter": ref("Encounter", study.encounter_id),
            "basedOn": [ref("ServiceRequest", study.order_item_id)] if study.order_item_id else [],
            "started": started,
            "numberOfSeries": study.series_count,
            "numberOfInstances": study.instance_count,
            "description": study.study_description or None,
        }
    )


def _study_version(study: Any) -> Version:
    return Version(imaging_study(study), study.version, study.updated_at, study.patient_id)


class ImagingStudyMapper(Mapper):
    """Studies matched to a patient (an unmatched study has no FHIR subject yet)."""

    resource_type = "ImagingStudy"
    permission = "imaging.view"
    search_params = (PATIENT, SearchParam("status", "token", "available"))

    def _rows(self, scope: Scope) -> Any:
        return study_list(scope=scope, filters=StudyFilters()).filter(patient_id__isnull=False)

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        uid = parse_uuid(resource_id, self.resource_type)
        study = self._rows(scope).filter(id=uid).first()
        if study is None:
            raise NotFound(details={"resource": self.resource_type})
        return [_study_version(study)]

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        statuses = [v for value in criteria.pop("status", []) for v in params.or_values(value)]
        rows = filtered(self._rows(scope), criteria)
        if statuses and "available" not in statuses:
            rows = rows.none()
        return [Source(rows=rows, expand=lambda batch: [[_study_version(s)] for s in batch])]


def audit_event(record: Any) -> dict[str, Any]:
    read = record.kind == "read"
    return drop_empty(
        {
            "resourceType": "AuditEvent",
            "id": str(record.id),
            "type": (
                {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"}
                if read
                else {"system": DCM, "code": "110110", "display": "Patient Record"}
            ),
            "subtype": [{"system": "urn:hm-core:audit-action", "code": record.action}],
            "action": "R" if read else "E",
            "recorded": record.occurred_at.isoformat(),
            "outcome": "0",
            "agent": [
                drop_empty(
                    {
                        "who": drop_empty(
                            {
                                "identifier": (
                                    {"system": "urn:hm-core:user", "value": str(record.actor_id)}
                                    if record.actor_id
                                    else None
                                ),
                                "display": record.actor_username,
                            }
                        ),
                        "requestor": True,
                        "network": {"address": record.ip, "type": "2"} if record.ip else None,
                    }
                )
            ],
            "source": {
                "site": str(record.facility_id),
                "observer": {"display": "hm_core"},
            },
            "entity": ([{"what": ref("Patient", record.patient_id)}] if record.patient_id else []),
        }
    )


class AuditEventMapper(Mapper):
    """The tenant's audit trail; reading it needs `audit.view`."""

    resource_type = "AuditEvent"
    permission = "audit.view"
    search_params = (
        PATIENT,
        SearchParam("agent", "reference", "The acting user (their id)"),
        SearchParam("date", "date", "When it happened"),
    )

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        uid = parse_uuid(resource_id, self.resource_type)
        record = audit_record_list(scope=scope, filters=AuditFilters()).filter(id=uid).first()
        if record is None:
            raise NotFound(details={"resource": self.resource_type})
        return [self._version(record)]

    def _version(self, record: Any) -> Version:
        return Version(audit_event(record), 1, record.occurred_at, record.patient_id)

    def for_patient(self, scope: Scope, patient_id: uuid.UUID) -> list[Source]:
        """The trail is about the record, not the patient's care: not in `$everything`."""
        return []

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        rows = filtered(
            audit_record_list(scope=scope, filters=AuditFilters()), criteria, more=_audit_q
        )
        return [Source(rows=rows, expand=lambda batch: [[self._version(r)] for r in batch])]


def _audit_q(name: str, value: str) -> Q:
    if name == "agent":
        ids = [
            uid
            for part in params.or_values(value)
            for uid in params.reference_ids(part, "Practitioner")
        ]
        return Q(actor_id__in=ids) if ids else params.NOTHING
    return params.date_q("occurred_at", value)


register(ImagingStudyMapper())
register(AuditEventMapper())
