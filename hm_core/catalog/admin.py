from django.contrib import admin

from hm_core.catalog.models import Analyte, ServiceItem
from hm_core.iam.admin import TenantColumnAdmin, TenantIdFilter


class AnalyteInline(admin.TabularInline):
    model = Analyte
    extra = 0


@admin.register(ServiceItem)
class ServiceItemAdmin(TenantColumnAdmin):
    """Operators edit a tenant's codes, prices, units and reference/critical ranges here."""

    list_display = ("tenant", "code", "name", "order_type", "specimen_type", "price", "currency")
    list_filter = (TenantIdFilter, "order_type", "is_active")
    search_fields = ("code", "name", "loinc_code")
    inlines = [AnalyteInline]
