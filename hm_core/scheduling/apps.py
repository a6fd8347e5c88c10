from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "hm_core.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from hm_core.scheduling import policies, projections  # noqa: F401 - registers subscribers
