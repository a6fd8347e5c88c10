"""`alert.raised` v2: the alert's untyped `data` becomes typed columns (source, assignee,
findings). Existing rows are converted with the same function that upcasts v1 events, so they
equal a rebuild from the store."""

from typing import Any

from django.db import migrations, models

from hm_core.alerts.events import raised_v1_to_v2


def _typed_from_data(apps: Any, schema_editor: Any) -> None:
    alert_model = apps.get_model("alerts", "Alert")
    # Cross-tenant on purpose: a schema migration converts every tenant's rows.
    for alert in alert_model._base_manager.all().iterator():
        v2 = raised_v1_to_v2({"kind": alert.kind, "data": alert.data})
        alert.source_type = v2["source_type"]
        alert.source_id = v2["source_id"]
        alert.source_version = v2["source_version"]
        alert.assignee_id = v2["assignee_id"]
        alert.assignee = v2["assignee"]
        alert.findings = v2["findings"]
        alert.save(update_fields=[*NEW_FIELDS])


NEW_FIELDS = {
    "source_type": models.CharField(max_length=32, blank=True, default=""),
    "source_id": models.UUIDField(null=True),
    "source_version": models.PositiveIntegerField(null=True),
    "assignee_id": models.UUIDField(null=True),
    "assignee": models.CharField(max_length=150, blank=True, default=""),
    "findings": models.JSONField(default=list),
}


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]

    operations = [
        *(
            migrations.AddField(model_name="alert", name=name, field=field)
            for name, field in NEW_FIELDS.items()
        ),
        migrations.RunPython(_typed_from_data, migrations.RunPython.noop),
        migrations.RemoveField(model_name="alert", name="data"),
    ]
