"""Webhooks in the admin, read-only: endpoints change through the API (which checks the URL),
deliveries through the sender; operators look here for dead letters."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from hm_core.iam.admin import ReadOnlyAdmin, TenantColumnAdmin, TenantIdFilter
from hm_core.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin, TenantColumnAdmin):
    list_display = ("tenant", "url", "description", "is_active", "created_by", "created_at")
    list_filter = (TenantIdFilter, "is_active")
    search_fields = ("url", "description")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "at", "status_code", "error", "duration_ms")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin, TenantColumnAdmin):
    list_display = ("tenant", "event_type", "position", "status", "attempts", "next_attempt_at")
    list_filter = (TenantIdFilter, "status")
    search_fields = ("event_type",)
    inlines = [WebhookAttemptInline]
