"""Run a full OPD visit through the same services the API uses, and print what it produced."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.common.scope import Principal, RequestContext, Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.encounters import services as encounters
from hm_core.encounters.news2 import Vitals
from hm_core.iam.models import Facility, User
from hm_core.iam.selectors import principal_in_facility
from hm_core.patients.services import patient_register
from hm_core.timeline.selectors import timeline_for_encounter


class Command(BaseCommand):
    help = "Register a patient and walk one encounter from SCHEDULED to CLOSED."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", default="demo", help="tenant slug (default: demo)")
        parser.add_argument("--facility", default="main", help="facility code (default: main)")
        parser.add_argument("--user", help="act as this user (default: the system)")

    def handle(self, *args: Any, **options: Any) -> None:
        scope = self._scope(options["tenant"], options["facility"], options["user"])
        patient = patient_register(scope=scope, demographics=_demo_patient())
        encounter = encounters.encounter_create(
            scope=scope,
            patient_id=patient.id,
            reason="Test visit: cough for 3 days",
            scheduled_at=utcnow() + timedelta(minutes=5),
        )
        eid = encounter.id
        encounters.encounter_check_in(scope=scope, encounter_id=eid)
        encounters.encounter_record_vitals(scope=scope, encounter_id=eid, vitals=_normal_vitals())
        encounters.encounter_start_consult(scope=scope, encounter_id=eid)
        encounters.encounter_record_assessment(
            scope=scope, encounter_id=eid, assessment="Viral URTI"
        )
        encounters.encounter_record_plan(
            scope=scope, encounter_id=eid, plan="Fluids, rest, review in 1 week"
        )
        closed = encounters.encounter_close(scope=scope, encounter_id=eid)
        with scope_active(scope):
            items = timeline_for_encounter(scope=scope, encounter_id=eid, after=0, limit=200).items
        self.stdout.write(f"patient {patient.id} (MRN {patient.mrn})")
        self.stdout.write(
            f"create_test_encounter: encounter {eid} {closed.status}, timeline {len(items)} items"
        )

    def _scope(self, tenant: str, facility_code: str, username: str | None) -> Scope:
        facility = Facility.objects.filter(tenant__slug=tenant, code=facility_code).first()
        if facility is None:
            raise CommandError(
                f"no facility {facility_code!r} in tenant {tenant!r} (bootstrap_demo?)"
            )
        principal = Principal.system("create_test_encounter")
        if username:
            user = User.objects.filter(username=username).first()
            found = user and principal_in_facility(
                user=user, tenant_id=facility.tenant_id, facility_id=facility.id
            )
            if not found:
                raise CommandError(f"{username!r} is no active member of {tenant}/{facility_code}")
            principal = found
        return Scope(
            facility.tenant_id,
            facility.id,
            principal,
            RequestContext(request_id="create_test_encounter"),
        )


def _demo_patient() -> dict[str, Any]:
    return {
        "full_name": "Test Patient",
        "mrn": f"TEST-{secrets.token_hex(4).upper()}",
        "date_of_birth": date(1980, 5, 17),
        "gender": "U",
        "phone": "",
        "email": "",
        "address": "",
    }


def _normal_vitals() -> Vitals:
    return Vitals(
        blood_pressure_systolic=122,
        blood_pressure_diastolic=78,
        pulse=72,
        temperature=Decimal("98.6"),
        temperature_unit="F",
        spo2=98,
        respiratory_rate=16,
    )
