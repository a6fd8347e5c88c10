from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "hm_core.alerts"
    label = "alerts"
    verbose_name = "Clinical alerts"

    def ready(self) -> None:
        from hm_core.alerts import projections  # noqa: F401 - registers subscribers
