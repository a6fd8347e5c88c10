"""Role `patient` (contract §17): a patient's own account reaches its own record and nothing else.

Two locks, both failing closed:
1. Routes. A patient principal may call only the operations listed in `PATIENT_ROUTES`
   (method and Django route of the Ninja operation); every other operation answers 404
   `not_found`, exactly as if it did not exist, so an endpoint added later is closed to
   patients until it is listed here. A route with a `patient_id` path parameter must name the
   principal's own patient.
2. Rows. `ScopedQuerySet.for_scope` keeps, for a patient principal, only rows of its own
   patient (`Model.patient_field`), and no row of a model that has no patient, so a listed
   list endpoint shows the patient's rows only, or nothing.

Endpoints of other branches add their routes here (FHIR:
`GET fhir/Patient/<patient_id>/$everything`).
Scheduling's routes carry no `patient_id`: the row filter limits lists, reads and cancels to the
patient's own appointments, and `appointment_book` refuses (404) a booking for anyone else.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest

from hm_core.common.errors import NotFound
from hm_core.common.scope import Principal

PATIENT_ROUTES: dict[str, frozenset[str]] = {
    "api/patients/<patient_id>/": frozenset({"GET"}),
    "api/encounters/": frozenset({"GET"}),
    "api/encounters/<encounter_id>/": frozenset({"GET"}),
    "api/lab/results/": frozenset({"GET"}),
    "api/lab/results/<result_id>/": frozenset({"GET"}),
    "api/appointments/": frozenset({"GET", "POST"}),
    "api/appointments/<appointment_id>/": frozenset({"GET"}),
    "api/appointments/<appointment_id>/cancel/": frozenset({"POST"}),
    # FHIR (contract §12, §17): the patient's own compartment, with or without the slash
    "api/fhir/Patient/<patient_id>/$everything": frozenset({"GET"}),
    "api/fhir/Patient/<patient_id>/$everything/": frozenset({"GET"}),
}


def patient_route_guard(request: HttpRequest, principal: Principal) -> None:
    """404 unless a patient principal calls a route open to patients, about its own patient."""
    if not principal.restricted:
        return
    match = getattr(request, "resolver_match", None)
    route = match.route if match is not None else ""
    if request.method not in PATIENT_ROUTES.get(route, frozenset()):
        raise NotFound()
    named = match.kwargs.get("patient_id") if match is not None else None
    if named is not None and _as_uuid(named) != principal.patient_id:
        raise NotFound(details={"resource": "patient"})


def _as_uuid(value: object) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None
