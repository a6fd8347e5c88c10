"""Field encryption at rest (contract §18, docs/data-protection.md).

Phone, e-mail, national id and the address (its JSON, as the API shows it) move into Fernet
tokens (`*_encrypted`) with blind indexes for equality search (`*_index`); the plaintext columns
go. Timeline entries of patient events get the same fields encrypted in their `data`. Stored
events are not rewritten (the hash chain covers them as they are): version-2 patient events
are upcast to version 3, encrypted, when they are read. `confidential` is new, false for all.

Runs with the keys of the environment (FIELD_ENCRYPTION_KEYS, FIELD_BLIND_INDEX_KEY).
"""

import json

from django.db import migrations, models

from hm_core.common.crypto import blind_index, decrypt_field, encrypt_field, is_encrypted

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")
INDEXED = ("phone", "email", "national_id")
SEALED = (*INDEXED, "address")
PATIENT_EVENTS = ("patient.registered", "patient.updated")
BATCH = 1000


def _seal_row(row):
    for name in INDEXED:
        plain = getattr(row, name) or ""
        setattr(row, f"{name}_encrypted", encrypt_field(plain))
        setattr(row, f"{name}_index", blind_index(name, plain))
    address = {key: getattr(row, f"address_{key}") or "" for key in ADDRESS_FIELDS}
    plain = json.dumps(address, sort_keys=True, separators=(",", ":"))
    row.address_encrypted = encrypt_field(plain) if any(address.values()) else ""


def _seal_data(fields):
    out = dict(fields)
    for name in INDEXED:
        value = str(out.get(name) or "")
        if name in out and not is_encrypted(value):
            out[name] = encrypt_field(value)
    if isinstance(out.get("address"), dict):
        out["address"] = encrypt_field(json.dumps(out["address"], sort_keys=True, separators=(",", ":")))
    return out


def encrypt_rows(apps, schema_editor):
    # Every tenant at once: a migration runs outside any scope, on the plain base manager.
    Patient = apps.get_model("patients", "Patient")
    columns = [*(f"{n}_encrypted" for n in SEALED), *(f"{n}_index" for n in INDEXED)]
    batch = []
    for row in Patient._base_manager.order_by("pk").iterator(chunk_size=BATCH):
        _seal_row(row)
        batch.append(row)
        if len(batch) == BATCH:
            Patient._base_manager.bulk_update(batch, columns)
            batch = []
    Patient._base_manager.bulk_update(batch, columns)
    TimelineEntry = apps.get_model("timeline", "TimelineEntry")
    entries = TimelineEntry._base_manager.filter(event_type__in=PATIENT_EVENTS)
    for entry in entries.order_by("pk").iterator(chunk_size=BATCH):
        data = entry.data
        if entry.event_type == "patient.updated":
            data = {**data, "changes": _seal_data(data.get("changes") or {})}
        else:
            data = _seal_data(data)
        if data != entry.data:
            TimelineEntry._base_manager.filter(pk=entry.pk).update(data=data)


def decrypt_rows(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    for row in Patient._base_manager.order_by("pk").iterator(chunk_size=BATCH):
        for name in INDEXED:
            setattr(row, name, decrypt_field(getattr(row, f"{name}_encrypted")))
        address = json.loads(decrypt_field(row.address_encrypted) or "{}")
        for key in ADDRESS_FIELDS:
            setattr(row, f"address_{key}", address.get(key, ""))
        row.save(update_fields=[*INDEXED, *(f"address_{key}" for key in ADDRESS_FIELDS)])


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0004_structured_demographics"),
        ("timeline", "0001_initial"),
    ]

    operations = [
        *[
            migrations.AddField(
                model_name="patient",
                name=f"{name}_encrypted",
                field=models.TextField(blank=True, default=""),
            )
            for name in SEALED
        ],
        *[
            migrations.AddField(
                model_name="patient",
                name=f"{name}_index",
                field=models.CharField(blank=True, default="", max_length=64),
            )
            for name in INDEXED
        ],
        migrations.AddField(
            model_name="patient",
            name="confidential",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(encrypt_rows, decrypt_rows, elidable=False),
        migrations.RemoveIndex(model_name="patient", name="patients_by_phone"),
        migrations.RemoveIndex(model_name="patient", name="patients_by_email"),
        *[
            migrations.RemoveField(model_name="patient", name=name)
            for name in (*INDEXED, *(f"address_{key}" for key in ADDRESS_FIELDS))
        ],
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["tenant_id", "phone_index"], name="patients_by_phone_index"),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["tenant_id", "email_index"], name="patients_by_email_index"),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["tenant_id", "national_id_index"], name="patients_by_national_id_index"
            ),
        ),
    ]
