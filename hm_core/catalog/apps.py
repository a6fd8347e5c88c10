from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "hm_core.catalog"
    label = "catalog"
    verbose_name = "Service catalog"
