"""The Django admin is the platform operator's tool: Django superusers only.

Tenant administrators manage their tenant through the API (memberships, grants, catalog); the
admin crosses tenants, so a staff flag alone never opens it.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class HmAdminSite(AdminSite):
    site_header = "hm_core operations"
    site_title = "hm_core operations"
    index_title = "Onboarding and reference data"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)


class HmAdminConfig(AdminConfig):
    default_site = "hm_core.iam.admin_site.HmAdminSite"
