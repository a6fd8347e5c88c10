from django.contrib import admin

from hm_core.iam.admin import ReadOnlyAdmin, TenantColumnAdmin, TenantIdFilter
from hm_core.rules.models import RuleDefinition


@admin.register(RuleDefinition)
class RuleDefinitionAdmin(ReadOnlyAdmin, TenantColumnAdmin):
    """The rules tenants defined, read-only: they change through `PUT /api/rules/...` so that
    each change is an event on the tenant's chain (the defaults are in code, not rows)."""

    list_display = ("tenant", "rule_set", "code", "fact", "operator", "value", "enabled")
    list_filter = (TenantIdFilter, "rule_set", "enabled")
    search_fields = ("code", "fact")
