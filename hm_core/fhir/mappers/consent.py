"""Consent ← patients' consents (contract §18). A consent is never edited (a later one of the
same category supersedes it), so its only version is its stream's first: 1."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow
from hm_core.fhir import params
from hm_core.fhir.mappers.clinical import PATIENT, filtered
from hm_core.fhir.mappers.common import drop_empty, ref
from hm_core.fhir.registry import (
    Criteria,
    Mapper,
    SearchParam,
    Source,
    Version,
    parse_uuid,
    register,
)
from hm_core.patients.models import PatientConsent
from hm_core.patients.selectors import consent_all

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
# Our categories → the consent scope and the LOINC category code of each.
SCOPES = {
    "treatment": ("treatment", "59284-0", "Patient Consent"),
    "data_sharing": ("patient-privacy", "57016-8", "Privacy policy acknowledgment Document"),
    "research": ("research", "57017-6", "Privacy policy Organization Document"),
}
POLICY = "urn:hm-core:consent-policy"


def consent_resource(consent: PatientConsent, *, now: datetime) -> dict[str, Any]:
    """`active` while its period holds now, `inactive` before or after it."""
    scope_code, loinc, display = SCOPES[consent.category]
    period = drop_empty(
        {
            "start": consent.valid_from.isoformat(),
            "end": consent.valid_to.isoformat() if consent.valid_to else None,
        }
    )
    return drop_empty(
        {
            "resourceType": "Consent",
            "id": str(consent.id),
            "status": "active" if consent.is_active(now) else "inactive",
            "scope": {"coding": [{"system": CONSENT_SCOPE, "code": scope_code}]},
            "category": [
                {
                    "coding": [{"system": "http://loinc.org", "code": loinc, "display": display}],
                    "text": consent.category,
                }
            ],
            "patient": ref("Patient", consent.patient_id),
            "dateTime": consent.recorded_at.isoformat(),
            "policy": [{"uri": f"{POLICY}:{consent.category}"}],
            "provision": {"type": consent.decision, "period": period},
        }
    )


class ConsentMapper(Mapper):
    resource_type = "Consent"
    permission = "patients.view"
    search_params = (PATIENT, SearchParam("status", "token", "active | inactive"))

    def _version(self, consent: PatientConsent, now: datetime) -> Version:
        resource = consent_resource(consent, now=now)
        return Version(resource, consent.version, consent.recorded_at, consent.patient_id)

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        uid = parse_uuid(resource_id, self.resource_type)
        consent = consent_all(scope=scope).filter(id=uid).first()
        if consent is None:
            raise NotFound(details={"resource": self.resource_type})
        return [self._version(consent, utcnow())]

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        now = utcnow()
        statuses = [v for value in criteria.pop("status", []) for v in params.or_values(value)]
        rows = filtered(consent_all(scope=scope), criteria)
        if statuses:
            rows = rows.filter(_status_q(statuses, now))
        return [Source(rows=rows, expand=lambda batch: [[self._version(c, now)] for c in batch])]


def _status_q(statuses: list[str], now: datetime) -> Q:
    active = Q(valid_from__lte=now) & (Q(valid_to__isnull=True) | Q(valid_to__gt=now))
    q = params.NOTHING
    if "active" in statuses:
        q |= active
    if "inactive" in statuses:
        q |= ~active
    return q


register(ConsentMapper())
