"""Tenants, users, scopes and OPD visits made through the real services (after django_setup).

Tenants come from `bootstrap_demo`, the command operators use, so benchmarks act as the same
demo users (`nurse@<slug>`, `doctor@<slug>`) the README's walk-through uses.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.hashers import PBKDF2PasswordHasher

# Same field names as the README's curl walk-through.
VITALS: dict[str, Any] = {
    "blood_pressure_systolic": 122,
    "blood_pressure_diastolic": 78,
    "pulse": 72,
    "temperature": 98.6,
    "spo2": 98,
    "respiratory_rate": 16,
}
SCHEDULED_AT = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


class QuickPBKDF2Hasher(PBKDF2PasswordHasher):
    """PBKDF2 with few rounds, only while bootstrapping bench tenants.

    Django's million rounds cost ~0.4 s per demo user (8 per tenant, 64 tenants); the hash
    keeps the standard `pbkdf2_sha256` format, so the production server still verifies it.
    """

    iterations = 1000


QUICK_HASHER = "bench.world.QuickPBKDF2Hasher"
# Password of every bench demo user; the benchmarks mint tokens and never log in with it.
BENCH_PASSWORD = "Bench-pass-1234"  # noqa: S105


@dataclass(frozen=True)
class TenantInfo:
    slug: str
    tenant_id: uuid.UUID
    facility_id: uuid.UUID


def tenants_ensure(slugs: list[str]) -> dict[str, TenantInfo]:
    """Run `bootstrap_demo --tenant <slug>` for each slug (idempotent) with a quick hasher."""
    from django.core.management import call_command
    from django.test import override_settings

    found: dict[str, TenantInfo] = {}
    with override_settings(PASSWORD_HASHERS=[QUICK_HASHER]):
        for slug in slugs:
            out = io.StringIO()
            call_command("bootstrap_demo", tenant=slug, password=BENCH_PASSWORD, stdout=out)
            summary = json.loads(out.getvalue().strip().splitlines()[-1])
            found[slug] = TenantInfo(
                slug=slug,
                tenant_id=uuid.UUID(summary["tenant_id"]),
                facility_id=uuid.UUID(summary["facilities"]["main"]),
            )
    return found


def tenant_info(slug: str) -> TenantInfo:
    """An existing bench tenant and its main facility."""
    from hm_core.iam.models import Facility, Tenant

    tenant = Tenant.objects.get(slug=slug)
    facility = Facility.objects.get(tenant=tenant, code="main")
    return TenantInfo(slug=slug, tenant_id=tenant.id, facility_id=facility.id)


def scope_for(info: TenantInfo, role: str, request_id: str = "bench") -> Any:
    """The Scope the API would build for `<role>@<slug>` at the tenant's main facility."""
    from hm_core.common.scope import RequestContext, Scope
    from hm_core.iam.models import User
    from hm_core.iam.selectors import principal_in_facility

    user = User.objects.get(username=f"{role}@{info.slug}")
    principal = principal_in_facility(
        user=user, tenant_id=info.tenant_id, facility_id=info.facility_id
    )
    if principal is None:
        raise RuntimeError(f"{role}@{info.slug} has no membership at the main facility")
    return Scope(
        tenant_id=info.tenant_id,
        facility_id=info.facility_id,
        principal=principal,
        context=RequestContext(request_id=request_id),
    )


def patient_register(nurse: Any, *, mrn: str, full_name: str) -> uuid.UUID:
    from hm_core.patients import services

    patient = services.patient_register(
        scope=nurse,
        demographics={
            "mrn": mrn,
            "full_name": full_name,
            "date_of_birth": date(1985, 12, 10),
            "gender": "F",
            "phone": "+44 20 7946 0000",
            "email": "",
            "address": "",
        },
    )
    return uuid.UUID(str(patient.id))


def vitals() -> Any:
    from hm_core.encounters import news2

    fields = {**VITALS, "temperature": Decimal(str(VITALS["temperature"]))}
    return news2.Vitals(**fields)


def encounter_in_consult(nurse: Any, doctor: Any, *, mrn: str, reason: str = "Cough") -> Any:
    """Register a patient and take a visit to IN_CONSULT (create, check in, vitals, consult)."""
    from hm_core.encounters import services

    patient_id = patient_register(nurse, mrn=mrn, full_name="Ada Lovelace")
    encounter = services.encounter_create(
        scope=nurse, patient_id=patient_id, reason=reason, scheduled_at=SCHEDULED_AT
    )
    services.encounter_check_in(scope=nurse, encounter_id=encounter.id)
    services.encounter_record_vitals(scope=nurse, encounter_id=encounter.id, vitals=vitals())
    services.encounter_start_consult(scope=doctor, encounter_id=encounter.id)
    return encounter.id


def opd_visit(nurse: Any, doctor: Any, *, mrn: str) -> uuid.UUID:
    """The README's whole OPD walk-through through the services; returns the encounter id."""
    from hm_core.encounters import services

    encounter_id = encounter_in_consult(nurse, doctor, mrn=mrn)
    services.encounter_record_assessment(
        scope=doctor, encounter_id=encounter_id, assessment="Viral URTI"
    )
    services.encounter_record_plan(
        scope=doctor, encounter_id=encounter_id, plan="Fluids, rest; review in a week"
    )
    services.encounter_close(scope=doctor, encounter_id=encounter_id)
    return uuid.UUID(str(encounter_id))


def new_mrn(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
