from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "management"
    label = "operations"
    verbose_name = "Operator commands"
