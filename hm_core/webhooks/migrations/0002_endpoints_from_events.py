"""Endpoints become the read model of `webhook.endpoint_*` events; secrets move beside them.

Endpoints registered before this change have no events yet: `manage.py backfill_config_events`
records them on the chain (a rebuild before that would drop them, and it says so).
"""

import django.db.models.deletion
from django.db import migrations, models


def copy_secrets(apps, schema_editor):
    WebhookEndpoint = apps.get_model("webhooks", "WebhookEndpoint")
    WebhookSecret = apps.get_model("webhooks", "WebhookSecret")
    WebhookSecret.objects.bulk_create(
        WebhookSecret(endpoint_id=e.id, tenant_id=e.tenant_id, secret=e.secret)
        for e in WebhookEndpoint.objects.all()
    )


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='WebhookSecret',
            fields=[
                ('endpoint', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='credential', serialize=False, to='webhooks.webhookendpoint')),
                ('tenant_id', models.UUIDField()),
                ('secret', models.CharField(max_length=128)),
            ],
        ),
        migrations.RunPython(copy_secrets, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='webhookendpoint',
            name='secret',
        ),
        migrations.AddField(
            model_name='webhookendpoint',
            name='version',
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AlterField(
            model_name='webhookdelivery',
            name='endpoint',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='deliveries', to='webhooks.webhookendpoint'),
        ),
        migrations.AlterField(
            model_name='webhookendpoint',
            name='created_at',
            field=models.DateTimeField(),
        ),
    ]
