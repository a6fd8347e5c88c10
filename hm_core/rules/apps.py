from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "hm_core.rules"
    label = "rules"
    verbose_name = "Rules"

    def ready(self) -> None:
        pass
