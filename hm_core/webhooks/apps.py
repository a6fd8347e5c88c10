from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "hm_core.webhooks"
    label = "webhooks"
    verbose_name = "Outbound webhooks"

    def ready(self) -> None:
        from hm_core.webhooks import (  # noqa: F401 - registers the subscriber and the resender
            actors,
            projections,
            reconciler,
            services,  # registers its config backfill
            subscribers,
        )
