from django.apps import AppConfig
from django.core.checks import Tags, register
from django.db.models.signals import post_migrate


class EventsConfig(AppConfig):
    name = "hm_core.events"
    label = "events"
    verbose_name = "Event store"

    def ready(self) -> None:
        from hm_core.events.broker import configure_broker

        # The broker must exist before any module declares a dramatiq actor.
        configure_broker()
        from hm_core.common import rls
        from hm_core.events import actors  # noqa: F401 - declares the drain actor

        # After every migrate: grants, and RLS on each tenant table that lacks it (PostgreSQL).
        post_migrate.connect(rls.post_migrate, sender=self, dispatch_uid="hm_rls_policies")
        # Searches under RLS need their LIKE/UPPER marked LEAKPROOF to use their indexes.
        register(rls.check_search_functions, Tags.database)
