"""Database-level immutability: UPDATE and DELETE on events_event are refused by a trigger."""

from django.db import migrations

from hm_core.events import migrations_sql as sql


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(sql.POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in sql.SQLITE_FORWARD:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"no immutability trigger for {vendor}")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(sql.POSTGRES_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in sql.SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
