from django.apps import AppConfig


class IamConfig(AppConfig):
    name = "hm_core.iam"
    label = "iam"
    verbose_name = "Identity and access"
