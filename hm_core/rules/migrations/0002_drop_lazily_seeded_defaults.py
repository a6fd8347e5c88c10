"""Defaults are no longer written into the table on a tenant's first close: they live in code
(rules.domain.DEFAULTS) and the table holds only what tenants defined, through `rule.defined`
events. Rows equal to a default carry nothing and go; rows an admin edited before rule changes
were events stay, and `manage.py backfill_config_events` records them on the chain."""

from django.db import migrations

# The close-gate defaults as they were seeded (code, fact, operator, value, message, order).
SEEDED = [
    ("vitals_recorded", "vitals_recorded", "is_true", None, "Vitals must be recorded.", 10),
    ("assessment_recorded", "assessment_recorded", "is_true", None, "Assessment missing.", 20),
    ("plan_recorded", "plan_recorded", "is_true", None, "Plan missing.", 30),
    (
        "no_unacknowledged_critical_alert",
        "open_critical_alerts",
        "eq",
        0,
        "A critical alert must be acknowledged first.",
        40,
    ),
]


def drop_seeded(apps, schema_editor):
    RuleDefinition = apps.get_model("rules", "RuleDefinition")
    for code, fact, operator, value, message, order in SEEDED:
        for row in RuleDefinition.objects.filter(
            rule_set="encounter.close_gate", code=code, enabled=True, order=order
        ):
            if (row.fact, row.operator, row.value, row.message) == (fact, operator, value, message):
                row.delete()


class Migration(migrations.Migration):
    dependencies = [("rules", "0001_initial")]

    operations = [migrations.RunPython(drop_seeded, migrations.RunPython.noop)]
