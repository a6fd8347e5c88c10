from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "hm_core.tasks"
    label = "tasks"
    verbose_name = "Tasks"

    def ready(self) -> None:
        from hm_core.tasks import (  # noqa: F401 - registers subscribers
            lab_policies,
            policies,
            projections,
        )
