from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "hm_core.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from hm_core.orders import projections  # noqa: F401 - registers subscribers
