from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "hm_core.reports"
    label = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from hm_core.reports import percentile, projections  # noqa: F401 - registers subscribers

        percentile.install()
