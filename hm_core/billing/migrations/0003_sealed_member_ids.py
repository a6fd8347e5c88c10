"""Coverage member ids encrypted at rest (contract §15, §18, docs/billing.md).

Existing coverages' plaintext `member_id` become Fernet tokens, and so do the member ids in the
timeline entries of `billing.coverage_added` events. Stored events are not rewritten (the hash
chain covers them as they are): version-1 `billing.coverage_added` events are upcast to
version 2, sealed, when they are read, so a rebuild writes only ciphertext. Reversible.

Runs with the keys of the environment (FIELD_ENCRYPTION_KEYS).
"""

from django.db import migrations

from hm_core.common.crypto import decrypt_field, is_encrypted, seal

EVENT_TYPE = "billing.coverage_added"
BATCH = 1000


def _each_coverage(apps, change):
    # Every tenant at once: a migration runs outside any scope, on the plain base manager.
    Coverage = apps.get_model("billing", "Coverage")
    batch = []
    for row in Coverage._base_manager.order_by("pk").only("pk", "member_id").iterator(BATCH):
        row.member_id = change(row.member_id)
        batch.append(row)
        if len(batch) == BATCH:
            Coverage._base_manager.bulk_update(batch, ["member_id"])
            batch = []
    Coverage._base_manager.bulk_update(batch, ["member_id"])
    TimelineEntry = apps.get_model("timeline", "TimelineEntry")
    entries = TimelineEntry._base_manager.filter(event_type=EVENT_TYPE).order_by("pk")
    for entry in entries.iterator(chunk_size=BATCH):
        value = str(entry.data.get("member_id") or "")
        changed = change(value)
        if changed != value:
            data = {**entry.data, "member_id": changed}
            TimelineEntry._base_manager.filter(pk=entry.pk).update(data=data)


def _opened(value):
    return decrypt_field(value) if is_encrypted(value) else value


def seal_member_ids(apps, schema_editor):
    _each_coverage(apps, seal)


def open_member_ids(apps, schema_editor):
    _each_coverage(apps, _opened)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_claims_and_payments"),
        ("timeline", "0001_initial"),
    ]

    operations = [migrations.RunPython(seal_member_ids, open_member_ids)]
