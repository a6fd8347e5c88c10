from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "hm_core.documents"
    label = "documents"
    verbose_name = "Clinical documents"

    def ready(self) -> None:
        from hm_core.documents import projections  # noqa: F401 - registers subscribers
