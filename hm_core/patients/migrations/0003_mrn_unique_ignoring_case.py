"""MRNs unique per tenant ignoring case (search already ignores it).

Stops with a list of the clashing MRNs if a tenant already has two that differ only in case:
merge or renumber those patients first (a registrar's decision, not a migration's).
"""

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower


def refuse_case_duplicates(apps, schema_editor):
    patient = apps.get_model("patients", "Patient")
    clashes = list(
        patient.all_tenants.annotate(mrn_ci=Lower("mrn"))
        .values("tenant_id", "mrn_ci")
        .annotate(n=Count("id"))
        .filter(n__gt=1)[:20]
    )
    if clashes:
        listed = ", ".join(f"{c['mrn_ci']} (tenant {c['tenant_id']})" for c in clashes)
        raise RuntimeError(f"MRNs that differ only in case must be resolved first: {listed}")


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_search_indexes")]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                models.F("tenant_id"), Lower("mrn"), name="patients_mrn_ci_per_tenant_uniq"
            ),
        ),
        migrations.RemoveConstraint(model_name="patient", name="patients_mrn_per_tenant_uniq"),
    ]
