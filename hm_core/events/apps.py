from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "hm_core.events"
    label = "events"
    verbose_name = "Event store"
