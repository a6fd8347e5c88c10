"""Histograms of the OPD waits and visit lengths in the day rollups (`OpdDay`): per facility,
local day and practitioner, how many fall in each bucket of minutes. The exact medians start
their index walks at the bucket holding their rank (`percentile.percentiles_by_rank`).

The edges are frozen here as they were when the columns were made (`models.MINUTE_EDGES`)."""

from django.db import migrations, models

EDGES = (0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120, 180, 240)


def fill_histograms(apps, schema_editor):
    """The histograms of the visits projected before this migration, from their rows.

    Uses the module's current `rollups_recompute` (the only definition of a rollup), as 0003's
    `fill_days` does."""
    from hm_core.reports.rollups import rollups_recompute

    visits = apps.get_model("reports", "OpdVisit")._base_manager
    for tenant_id, facility_id in sorted(
        set(visits.values_list("tenant_id", "facility_id").distinct())
    ):
        rollups_recompute(tenant_id=tenant_id, facility_id=facility_id)


class Migration(migrations.Migration):
    dependencies = [("reports", "0003_day_rollups")]

    operations = [
        *(
            migrations.AddField(
                model_name="opdday",
                name=f"{metric}_from_{edge}",
                field=models.IntegerField(db_default=0, default=0),
            )
            for metric in ("waits", "visits")
            for edge in EDGES
        ),
        migrations.RunPython(fill_histograms, migrations.RunPython.noop),
    ]
