"""Print the bus's routing table: which subscriber sees which event type, in which order."""

from typing import Any

from django.core.management.base import BaseCommand

from hm_core.events.base import catalogue
from hm_core.events.bus import routing_table


class Command(BaseCommand):
    help = "Print every event type and the subscribers it is dispatched to, in order."

    def handle(self, *args: Any, **options: Any) -> None:
        subscriptions = routing_table()
        for event_type in catalogue():
            self.stdout.write(event_type)
            for sub in subscriptions:
                if sub.wants(event_type):
                    when = "after commit" if sub.after_commit else sub.stage.name.lower()
                    self.stdout.write(f"    {when:<12} {sub.name}")
        self.stdout.write(
            f"event_routes: {len(catalogue())} event types, {len(subscriptions)} subscribers"
        )
