from django.contrib import admin

from hm_core.iam.admin import TenantColumnAdmin, TenantIdFilter
from hm_core.rules.models import RuleDefinition


@admin.register(RuleDefinition)
class RuleDefinitionAdmin(TenantColumnAdmin):
    """Tenant configuration of rule sets: switch a rule off, or add one over a known fact."""

    list_display = ("tenant", "rule_set", "code", "fact", "operator", "value", "enabled")
    list_filter = (TenantIdFilter, "rule_set", "enabled")
    search_fields = ("code", "fact")
