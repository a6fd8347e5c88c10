from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "hm_core.events"
    label = "events"
    verbose_name = "Event store"

    def ready(self) -> None:
        from hm_core.events.broker import configure_broker

        # The broker must exist before any module declares a dramatiq actor.
        configure_broker()
        from hm_core.events import actors  # noqa: F401 - declares the drain actor
