from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "hm_core.tasks"
    label = "tasks"
    verbose_name = "Tasks"

    def ready(self) -> None:
        pass
