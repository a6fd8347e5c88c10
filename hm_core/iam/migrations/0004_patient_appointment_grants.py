"""Role `patient` may list, read, book and cancel its own appointments (contract §17).

`ensure_roles` seeds a tenant's grants once and afterwards only for new permissions or roles, so
tenants seeded before this release get the patient role's three scheduling grants here. Grants
are added, never removed: an administrator's own changes to the role are kept.
"""

from django.db import migrations

CODES = ("appointments.view", "appointments.book", "appointments.manage")


def grant(apps, schema_editor):
    Tenant = apps.get_model("iam", "Tenant")
    Role = apps.get_model("iam", "Role")
    Permission = apps.get_model("iam", "Permission")
    RolePermission = apps.get_model("iam", "RolePermission")
    role = Role.objects.filter(code="patient").first()
    permissions = list(Permission.objects.filter(code__in=CODES))
    if role is None or not permissions:
        return  # a fresh database: ensure_roles seeds them with the rest
    RolePermission.objects.bulk_create(
        [
            RolePermission(tenant=tenant, role=role, permission=permission)
            for tenant in Tenant.objects.filter(grants_seeded=True)
            for permission in permissions
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("iam", "0003_user_home_tenant_patient")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
