"""PostgreSQL covering indexes: each report reads its rows by (tenant, facility, time) and
finds every column it aggregates in the index itself (an index-only scan, no heap visits).
SQLite has no INCLUDE; the plain (tenant, facility, time) indexes of 0001 serve it."""

from __future__ import annotations

from typing import Any

from django.db import migrations

COVERING = {
    "reports_visit_cover": (
        "reports_opdvisit",
        "tenant_id, facility_id, at",
        "status, practitioner_id, wait_minutes, visit_minutes",
    ),
    "reports_lab_cover": (
        "reports_labturnaround",
        "tenant_id, facility_id, released_at",
        "service_code, minutes, critical",
    ),
    "reports_revenue_cover": (
        "reports_revenueentry",
        "tenant_id, facility_id, at",
        "kind, amount, currency, payer, service_code",
    ),
}


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, keys, include) in COVERING.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({keys}) INCLUDE ({include})"
        )


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in COVERING:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
