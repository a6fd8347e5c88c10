from django.apps import AppConfig


class EncountersConfig(AppConfig):
    name = "hm_core.encounters"
    label = "encounters"
    verbose_name = "Encounters"

    def ready(self) -> None:
        pass
