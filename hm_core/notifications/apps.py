from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "hm_core.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from hm_core.notifications import (  # noqa: F401 - registers subscribers and the resender
            actors,
            policies,
            projections,
            reconciler,
        )
