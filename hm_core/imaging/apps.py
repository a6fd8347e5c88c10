from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "hm_core.imaging"
    label = "imaging"
    verbose_name = "Imaging (DICOM)"

    def ready(self) -> None:
        from hm_core.imaging import policies, projections  # noqa: F401 - registers subscribers
