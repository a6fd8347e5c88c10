from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "hm_core.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from hm_core.audit import projections  # noqa: F401 - registers subscribers
