"""PostgreSQL-only search indexes: trigram on names (icontains), pattern ops on MRN prefixes."""

from django.db import migrations

from hm_core.common.db import postgres_statements

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS patients_name_trgm ON patients_patient "
    "USING gin (UPPER(full_name) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS patients_mrn_prefix ON patients_patient "
    "(tenant_id, UPPER(mrn) text_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS patients_phone_prefix ON patients_patient "
    "(tenant_id, phone text_pattern_ops)",
]
REVERSE = [
    "DROP INDEX IF EXISTS patients_name_trgm",
    "DROP INDEX IF EXISTS patients_mrn_prefix",
    "DROP INDEX IF EXISTS patients_phone_prefix",
]


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]
    operations = [postgres_statements(FORWARD, REVERSE)]
