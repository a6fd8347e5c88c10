"""PostgreSQL-only: prefix indexes on the name parts FHIR `Patient` searches (`family`, `given`,
`name`: `UPPER(column) LIKE 'X%'`). Without them such a search read the tenant: p99 478 ms at
300,000 patients (docs/performance.md). They need `upper` and `textlike` LEAKPROOF to be used
under row-level security (`hm_core.common.rls.SEARCH_FUNCTIONS`)."""

from django.db import migrations

from hm_core.common.db import postgres_statements

COLUMNS = ("family_name", "given_name", "middle_name")
FORWARD = [
    f"CREATE INDEX IF NOT EXISTS patients_{column}_prefix ON patients_patient "
    f"(tenant_id, UPPER({column}) text_pattern_ops)"
    for column in COLUMNS
]
REVERSE = [f"DROP INDEX IF EXISTS patients_{column}_prefix" for column in COLUMNS]


class Migration(migrations.Migration):
    dependencies = [("patients", "0007_patient_patients_confidential")]
    operations = [postgres_statements(FORWARD, REVERSE)]
