from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "hm_core.realtime"
    label = "realtime"
    verbose_name = "Real-time events"

    def ready(self) -> None:
        from hm_core.events.wakeups import on_tenant_committed
        from hm_core.realtime.fanout import announce

        on_tenant_committed(announce)
