"""Onboarding in the admin: tenants, facilities, users, memberships and role grants.

A platform operator edits IAM rows here directly; tenant admins use the API, where each change
is an `iam.*` event (lifecycle.py). Edits here orphan the cached principals they may change
(`AccessChangeAdmin`) so they too take effect at the next request. Clinical read models are
not registered: they change only through events, and their reads are audited (contract §3).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from hm_core.iam import principal_cache
from hm_core.iam.models import (
    Facility,
    FacilityMembership,
    Permission,
    Role,
    RolePermission,
    Tenant,
    User,
)


class TenantIdFilter(admin.SimpleListFilter):
    """Filter by tenant on models that carry a bare `tenant_id` (catalog, rules, webhooks)."""

    title = "tenant"
    parameter_name = "tenant_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(t.id), t.slug) for t in Tenant.objects.order_by("slug")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(tenant_id=self.value()) if self.value() else queryset


class TenantColumnAdmin(admin.ModelAdmin):
    """Shows the tenant's slug beside a bare `tenant_id`, in the changelist's one query."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        slug = Tenant.objects.filter(id=OuterRef("tenant_id")).values("slug")[:1]
        return super().get_queryset(request).annotate(tenant_slug=Subquery(slug))

    @admin.display(description="tenant", ordering="tenant_slug")
    def tenant(self, obj: Any) -> str:
        return str(getattr(obj, "tenant_slug", None) or obj.tenant_id)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible to operators, changed only by the code that owns it."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "currency", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("grants_seeded", "created_at")


class AccessChangeAdmin(admin.ModelAdmin):
    """Saving or deleting a row that decides who may act orphans the affected cached principals
    (a whole tenant's for facilities and grants, one user's for accounts and memberships)."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        _access_changed(form.instance)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        _access_changed(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        rows = list(queryset)
        super().delete_queryset(request, queryset)
        for obj in rows:
            _access_changed(obj)


def _access_changed(obj: Any) -> None:
    if isinstance(obj, User):
        principal_cache.invalidate(user_ids=[obj.id])
    elif isinstance(obj, FacilityMembership):
        principal_cache.invalidate(user_ids=[obj.user_id])
    elif isinstance(obj, Facility | RolePermission):
        principal_cache.invalidate(tenant_id=obj.tenant_id)


@admin.register(Facility)
class FacilityAdmin(AccessChangeAdmin):
    list_display = ("code", "name", "tenant", "is_active")
    list_filter = ("tenant", "is_active")
    search_fields = ("code", "name")


@admin.register(User)
class UserAdmin(DjangoUserAdmin, AccessChangeAdmin):
    """Django's user admin (hashed passwords, password change form) plus the full name."""

    list_display = ("username", "full_name", "email", "is_active", "is_superuser", "last_login")
    list_filter = ("is_active", "is_superuser", "memberships__tenant")
    search_fields = ("username", "full_name", "email")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("full_name", "email")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("username", "full_name", "password1", "password2")},
        ),
    )
    readonly_fields = ("last_login", "date_joined")


@admin.register(FacilityMembership)
class FacilityMembershipAdmin(AccessChangeAdmin):
    """A user's roles in one facility: what the API's scope and permissions come from."""

    list_display = ("user", "facility", "tenant", "role_codes", "is_active")
    list_filter = ("tenant", "facility", "roles", "is_active")
    search_fields = ("user__username", "user__full_name")
    autocomplete_fields = ("user",)
    filter_horizontal = ("roles",)
    exclude = ("tenant",)  # always the facility's tenant (set on save)

    def get_queryset(self, request: HttpRequest) -> QuerySet[FacilityMembership]:
        qs = super().get_queryset(request).select_related("user", "facility__tenant", "tenant")
        return qs.prefetch_related("roles")

    @admin.display(description="roles")
    def role_codes(self, obj: FacilityMembership) -> str:
        return ", ".join(sorted(role.code for role in obj.roles.all()))

    def save_model(
        self, request: HttpRequest, obj: FacilityMembership, form: Any, change: bool
    ) -> None:
        obj.tenant = obj.facility.tenant
        super().save_model(request, obj, form, change)


@admin.register(RolePermission)
class RolePermissionAdmin(AccessChangeAdmin):
    """Which permissions each role grants, per tenant (seeded by `ensure_roles`)."""

    list_display = ("tenant", "role", "permission")
    list_filter = ("tenant", "role")
    search_fields = ("permission__code",)


@admin.register(Role)
class RoleAdmin(ReadOnlyAdmin):
    """Global role codes, created by `ensure_roles`; the code refers to them by name."""

    list_display = ("code", "name")


@admin.register(Permission)
class PermissionAdmin(ReadOnlyAdmin):
    """Global permission codes, created by `ensure_roles`; endpoints check them by name."""

    list_display = ("code", "description")
    search_fields = ("code",)
