from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "hm_core.fhir"
    label = "fhir"
    verbose_name = "FHIR R4 API"

    def ready(self) -> None:
        from hm_core.fhir import mappers, projections  # noqa: F401 - mappers and subscribers
