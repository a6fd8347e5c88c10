from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "hm_core.interop"
    label = "interop"
    verbose_name = "Interfaces (HL7 v2)"

    def ready(self) -> None:
        from hm_core.interop import outbound, projections  # noqa: F401 - registers subscribers
