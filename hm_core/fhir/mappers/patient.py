"""Patient ← the patient read model (current) and the patient stream (every version)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.events.base import EventMeta
from hm_core.fhir import params
from hm_core.fhir.mappers.common import MRN_SYSTEM, drop_empty, fold_stream
from hm_core.fhir.registry import (
    Criteria,
    Mapper,
    SearchParam,
    Source,
    Version,
    parse_uuid,
    register,
)
from hm_core.patients.events import (
    PatientDeleted,
    PatientRegistered,
    PatientRestored,
    PatientUpdated,
)
from hm_core.patients.selectors import PatientFilters, mrn_equals, patient_get, patient_list

GENDER = {"M": "male", "F": "female", "O": "other", "U": "unknown"}
GENDER_CODE = {v: k for k, v in GENDER.items()}
_FIELDS = (
    "mrn", "full_name", "given_name", "middle_name", "family_name", "date_of_birth", "gender",
    "phone", "email", "address", "is_deleted",
)  # fmt: skip


def patient_resource(patient_id: uuid.UUID, state: dict[str, Any]) -> dict[str, Any]:
    """The FHIR Patient of one state of the patient (read model row or folded events)."""
    address = state.get("address") or {}
    name = drop_empty(
        {
            "use": "official",
            "text": state.get("full_name"),
            "family": state.get("family_name"),
            "given": [p for p in (state.get("given_name"), state.get("middle_name")) if p],
        }
    )
    telecom = [
        {"system": system, "value": state[key], "use": "home"}
        for system, key in (("phone", "phone"), ("email", "email"))
        if state.get(key)
    ]
    return drop_empty(
        {
            "resourceType": "Patient",
            "id": str(patient_id),
            "identifier": [
                {
                    "use": "usual",
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "MR",
                            }
                        ]
                    },
                    "system": MRN_SYSTEM,
                    "value": state["mrn"],
                }
            ],
            "active": not state.get("is_deleted", False),
            "name": [name],
            "telecom": telecom,
            "gender": GENDER.get(state.get("gender") or "U", "unknown"),
            "birthDate": str(state["date_of_birth"]),
            "address": [_address(address)] if any(address.values()) else [],
        }
    )


def _address(address: dict[str, str]) -> dict[str, Any]:
    return drop_empty(
        {
            "use": "home",
            "line": [p for p in (address.get("line1"), address.get("line2")) if p],
            "city": address.get("city"),
            "state": address.get("state"),
            "postalCode": address.get("postal_code"),
            "country": address.get("country"),
        }
    )


def _apply(state: dict[str, Any], event: Any, meta: EventMeta) -> None:
    """Payloads hold phone, e-mail and address encrypted (contract §18); each event's
    `revealed` hook gives their plaintext, as the read model's properties do for `read`."""
    if isinstance(event, PatientRegistered):
        fields = type(event).revealed(event.model_dump(include=set(_FIELDS)))
        state.update(fields, id=event.patient_id)
    elif isinstance(event, PatientUpdated):
        state.update(type(event).revealed({"changes": event.changes})["changes"])
    elif isinstance(event, PatientDeleted):
        state["is_deleted"] = True
    elif isinstance(event, PatientRestored):
        state["is_deleted"] = False


def _version(row: Any) -> Version:
    state = {name: getattr(row, name) for name in _FIELDS}
    return Version(
        resource=patient_resource(row.id, state),
        version_id=row.version,
        last_updated=row.updated_at,
        patient_id=row.id,
    )


class PatientMapper(Mapper):
    resource_type = "Patient"
    permission = "patients.view"
    search_params = (
        SearchParam("_id", "token", "The patient's id"),
        SearchParam("identifier", "token", f"MRN ({MRN_SYSTEM})"),
        SearchParam("name", "string", "Start of any part of the name"),
        SearchParam("family", "string", "Start of the family name"),
        SearchParam("given", "string", "Start of the given or middle name"),
        SearchParam("birthdate", "date", "Date of birth"),
        SearchParam("gender", "token", "male | female | other | unknown"),
        SearchParam("phone", "token", "Phone number, exactly"),
        SearchParam("email", "token", "E-mail address, any letter case"),
    )

    def read(self, scope: Scope, resource_id: str) -> Version:
        return _version(patient_get(scope=scope, patient_id=parse_uuid(resource_id, "Patient")))

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        patient = patient_get(scope=scope, patient_id=parse_uuid(resource_id, "Patient"))
        versions = fold_stream(
            scope,
            patient.id,
            apply=_apply,
            render=lambda state: (patient_resource(state["id"], state), state["id"]),
        )
        if not versions:  # a patient migrated without events: its read model is all there is
            raise NotFound(details={"resource": "Patient"})
        return versions

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        rows = patient_list(scope=scope, filters=self._selector_filters(criteria))
        for name, values in criteria.items():
            for value in values:
                rows = rows.filter(self._q(name, value))
        # `patient_list` applies the confidentiality rule (contract §18) itself.
        return [
            Source(
                rows=rows, expand=lambda batch: [[_version(row)] for row in batch], readable=True
            )
        ]

    def _selector_filters(self, criteria: Criteria) -> PatientFilters:
        """Phone and e-mail go through the patients selector (their columns get encrypted)."""
        phone = criteria.pop("phone", [None])[-1]
        email = criteria.pop("email", [None])[-1]
        return PatientFilters(phone=phone or None, email=email or None)

    def _q(self, name: str, value: str) -> Q:
        if name == "_id":
            return params.reference_q("id", value, "Patient")
        if name == "identifier":
            codes = params.token_codes(value, system=MRN_SYSTEM)
            return mrn_equals(*codes) if codes else params.NOTHING
        if name == "gender":
            codes = [GENDER_CODE[g] for g in params.or_values(value) if g in GENDER_CODE]
            return Q(gender__in=codes) if codes else params.NOTHING
        if name == "birthdate":
            return params.date_q("date_of_birth", value, as_date=True)
        return self._name_q(name, value)

    def _name_q(self, name: str, value: str) -> Q:
        columns = {
            "family": ("family_name",),
            "given": ("given_name", "middle_name"),
            "name": ("given_name", "middle_name", "family_name", "full_name"),
        }[name]
        q = Q()
        for part in params.or_values(value):
            for column in columns:
                q |= Q(**{f"{column}__istartswith": part})
        return q

    def for_patient(self, scope: Scope, patient_id: uuid.UUID) -> list[Source]:
        return self.search(scope, {"_id": [str(patient_id)]})


register(PatientMapper())
