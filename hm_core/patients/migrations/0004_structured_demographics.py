"""Structured demographics (contract §11a): name parts, a structured address, emergency contact,
national id; existing rows converted so that they equal a rebuild from their (upcast) events.

How existing rows are converted (the same functions upcast version-1 events, see docs/patients.md):
- `full_name` is kept as it is and split into given, middle and family names the way a
  registrar reads it (`split_full_name`): "Family, Given Middle" when it has a comma; otherwise
  the first word is the given name, the last word (with the lower-case surname particles before
  it, as in "Maria de la Cruz") the family name and the words between the middle name; a single
  word ("Madonna") becomes the family name only, with the given name empty.
- the free-text `address` becomes `address_line1` unchanged; city, state and postal code stay
  empty and the country is unknown (empty). An empty country exists only for such migrated
  legacy addresses and for HL7 addresses whose sender gave no country (PID-11.6).
- `email` is lower-cased (it is matched case-insensitively from now on).
"""

from django.db import migrations, models

from hm_core.patients.demographics import split_full_name

NEW_COLUMNS = [
    ("given_name", 200),
    ("middle_name", 200),
    ("family_name", 200),
    ("address_line1", 500),
    ("address_line2", 200),
    ("address_city", 100),
    ("address_state", 50),
    ("address_postal_code", 20),
    ("address_country", 2),
    ("emergency_contact_name", 200),
    ("emergency_contact_relationship", 50),
    ("emergency_contact_phone", 32),
    ("national_id", 64),
]
CONVERTED = ["given_name", "middle_name", "family_name", "address_line1", "email"]


def convert_legacy_rows(apps, schema_editor):
    # Every tenant at once: a migration runs outside any scope, on the plain base manager.
    Patient = apps.get_model("patients", "Patient")
    batch = []
    for row in Patient._base_manager.order_by("pk").iterator(chunk_size=1000):
        row.given_name, row.middle_name, row.family_name = split_full_name(row.full_name)
        row.address_line1 = (row.address or "").strip()
        row.email = (row.email or "").lower()
        batch.append(row)
        if len(batch) == 1000:
            Patient._base_manager.bulk_update(batch, CONVERTED)
            batch = []
    Patient._base_manager.bulk_update(batch, CONVERTED)


def restore_legacy_rows(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    for row in Patient._base_manager.exclude(address_line1="").iterator():
        parts = [row.address_line1, row.address_line2, row.address_city, row.address_state,
                 row.address_postal_code, row.address_country]
        row.address = ", ".join(p for p in parts if p)[:500]
        row.save(update_fields=["address"])


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_mrn_unique_ignoring_case")]

    operations = [
        *[
            migrations.AddField(
                model_name="patient",
                name=name,
                field=models.CharField(blank=True, max_length=length, default=""),
                preserve_default=False,
            )
            for name, length in NEW_COLUMNS
        ],
        migrations.RunPython(convert_legacy_rows, restore_legacy_rows),
        migrations.RemoveField(model_name="patient", name="address"),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["tenant_id", "is_deleted", "family_name", "given_name"],
                name="patients_by_family_name",
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["tenant_id", "is_deleted", "given_name"], name="patients_by_given_name"
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["tenant_id", "email"], name="patients_by_email"),
        ),
    ]
