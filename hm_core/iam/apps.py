from django.apps import AppConfig


class IamConfig(AppConfig):
    name = "hm_core.iam"
    label = "iam"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        from hm_core.iam import policies, projections  # noqa: F401 - registers subscribers
