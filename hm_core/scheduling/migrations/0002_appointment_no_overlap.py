"""Active appointments may not overlap, per practitioner and per patient (tenant-wide).

PostgreSQL only: exclusion constraints over `tstzrange(start_at, end_at, '[)')` need the
`btree_gist` extension for the equality parts (tenant, practitioner or patient). SQLite has no
such constraint; there every transaction takes the write lock at BEGIN (`transaction_mode`
IMMEDIATE), so the booking service's overlap check and its insert run alone.
"""

from django.db import migrations

from hm_core.common.db import postgres_statements

from hm_core.scheduling.models import PATIENT_OVERLAP, PRACTITIONER_OVERLAP

ACTIVE = "status IN ('BOOKED', 'CHECKED_IN')"


def _constraint(name: str, column: str) -> str:
    return (
        f"ALTER TABLE scheduling_appointment ADD CONSTRAINT {name} EXCLUDE USING gist "
        f"(tenant_id WITH =, {column} WITH =, tstzrange(start_at, end_at, '[)') WITH &&) "
        f"WHERE ({ACTIVE})"
    )


FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    _constraint(PRACTITIONER_OVERLAP, "practitioner_id"),
    _constraint(PATIENT_OVERLAP, "patient_id"),
]
REVERSE = [
    f"ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS {PRACTITIONER_OVERLAP}",
    f"ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS {PATIENT_OVERLAP}",
]


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [postgres_statements(FORWARD, REVERSE)]
