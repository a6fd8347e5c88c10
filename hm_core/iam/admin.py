"""Onboarding in the admin: tenants, facilities, users, memberships and role grants.

IAM is plain reference data (not event-sourced), so it is edited here. Clinical read models are
not registered: they change only through events, and their reads are audited (contract §3).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest

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


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "tenant", "is_active")
    list_filter = ("tenant", "is_active")
    search_fields = ("code", "name")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
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
class FacilityMembershipAdmin(admin.ModelAdmin):
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
class RolePermissionAdmin(admin.ModelAdmin):
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
