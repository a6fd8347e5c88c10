from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "hm_core.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from hm_core.billing import policies, projections  # noqa: F401 - registers subscribers
