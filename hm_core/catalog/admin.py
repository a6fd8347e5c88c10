from django.contrib import admin

from hm_core.catalog.models import Analyte, ServiceItem


class AnalyteInline(admin.TabularInline):
    model = Analyte
    extra = 0


@admin.register(ServiceItem)
class ServiceItemAdmin(admin.ModelAdmin):
    """Tenant administrators edit codes, prices, units and reference/critical ranges here."""

    list_display = ("tenant_id", "code", "name", "order_type", "specimen_type", "price", "currency")
    list_filter = ("order_type", "is_active")
    search_fields = ("code", "name", "loinc_code")
    inlines = [AnalyteInline]
