from django.apps import AppConfig


class EncountersConfig(AppConfig):
    name = "hm_core.encounters"
    label = "encounters"
    verbose_name = "Encounters"

    def ready(self) -> None:
        from hm_core.encounters import policies, projections  # noqa: F401 - registers subscribers
