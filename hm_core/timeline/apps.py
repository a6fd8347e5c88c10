from django.apps import AppConfig


class TimelineConfig(AppConfig):
    name = "hm_core.timeline"
    label = "timeline"
    verbose_name = "Timelines"

    def ready(self) -> None:
        from hm_core.timeline import projections  # noqa: F401 - registers subscribers
