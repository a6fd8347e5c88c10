from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "hm_core.lab"
    label = "lab"
    verbose_name = "Laboratory"

    def ready(self) -> None:
        from hm_core.lab import policies, projections  # noqa: F401 - registers subscribers
