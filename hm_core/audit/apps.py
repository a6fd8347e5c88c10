from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "hm_core.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from hm_core.audit import projections, trail  # noqa: F401 - registers subscribers
        from hm_core.events import chain, checkpoints

        # The audit trail is checkpointed and verified with the tenant's events.
        checkpoints.also_checkpoint(trail.checkpoint)
        chain.also_verify(trail.LOG, trail.verify)
