from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "hm_core.patients"
    label = "patients"
    verbose_name = "Patients"

    def ready(self) -> None:
        from hm_core.patients import policies, projections  # noqa: F401 - registers subscribers
