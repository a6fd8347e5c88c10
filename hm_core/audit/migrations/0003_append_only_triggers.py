"""Audit records and their trail links are append-only: UPDATE and DELETE are refused by a
trigger on both engines (as on `events_event`). The triggers and tables belong to the connecting
user, so `DB_APP_ROLE` can neither disable nor drop them; it has no UPDATE, DELETE or TRUNCATE
grant on these tables either (`hm_core.common.rls.APPEND_ONLY_TABLES`)."""

from typing import Any

from django.db import migrations

TABLES = ("audit_auditrecord", "audit_audittraillink")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION hm_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
POSTGRES_TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION hm_audit_append_only();
"""
SQLITE_TRIGGER = """
CREATE TRIGGER {table}_no_{op} BEFORE {OP} ON {table}
BEGIN SELECT RAISE(ABORT, 'audit records are append-only: {OP} refused on {table}'); END;
"""


def create_triggers(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(POSTGRES_TRIGGER.format(table=table), params=None)
    elif vendor == "sqlite":
        for table in TABLES:
            for op in ("update", "delete"):
                schema_editor.execute(SQLITE_TRIGGER.format(table=table, op=op, OP=op.upper()))
    else:
        raise RuntimeError(f"no append-only trigger for {vendor}")


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS hm_audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_audit_trail")]
    operations = [migrations.RunPython(create_triggers, drop_triggers, elidable=False)]
