"""Tenants, facilities, users, roles, permissions and facility memberships.

Roles and permissions are global codes; which permissions a role grants is per tenant
(`RolePermission`), so a tenant admin can change the grants of their own tenant only.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class Tenant(models.Model):
    """A hospital organisation: the unit of data isolation and of the event chain."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    # Default grants are seeded once; afterwards the tenant admin owns them (ensure_roles
    # only adds grants of permissions that did not exist before).
    grants_seeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Facility(models.Model):
    """A hospital, clinic or lab of a tenant; memberships and most clinical data live here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="facilities")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    # The IANA zone its clinics keep their hours in (schedules, report day boundaries); data
    # is stored and returned in UTC and converted at those two edges only.
    time_zone = models.CharField(max_length=64, default="UTC")
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "facilities"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="iam_facility_code_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.code}"


class User(AbstractUser):
    """A person who signs in. UUID ids so that events never expose a counter."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    full_name = models.CharField(max_length=200, blank=True)
    # The tenant whose admins administer the account (None: made by a platform operator, e.g.
    # bootstrap_demo; a tenant's admins then administer it while all its memberships are
    # theirs). Not named `tenant_id`: a user signs in before any tenant is chosen, so the
    # table must stay outside per-tenant row filters keyed on that column name.
    home_tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    # Role `patient`: the one patient record of `home_tenant` this account may see (§17).
    patient_id = models.UUIDField(null=True, blank=True)

    class Meta(AbstractUser.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["home_tenant", "patient_id"],
                condition=models.Q(patient_id__isnull=False),
                name="iam_user_one_account_per_patient",
            )
        ]

    def __str__(self) -> str:
        return self.username


class Role(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.code


class Permission(models.Model):
    code = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.code


class RolePermission(models.Model):
    """A grant of one permission to one role within one tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="grants")
    role = models.ForeignKey(Role, on_delete=models.CASCADE)
    permission = models.ForeignKey(Permission, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "role", "permission"], name="iam_role_permission_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.role_id}->{self.permission_id}"


class FacilityMembership(models.Model):
    """A user's roles in one facility; the only source of a request's scope and permissions."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    facility = models.ForeignKey(Facility, on_delete=models.CASCADE)
    roles = models.ManyToManyField(Role)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "facility"], name="iam_membership_uniq")
        ]
        indexes = [models.Index(fields=["user", "tenant", "facility"], name="iam_membership_scope")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.facility_id}"
