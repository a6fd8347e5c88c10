from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "hm_core.rules"
    label = "rules"
    verbose_name = "Rules"

    def ready(self) -> None:
        # projections subscribe; services register their config backfill
        from hm_core.rules import projections, services  # noqa: F401
