from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    name = "hm_core.idempotency"
    label = "idempotency"
    verbose_name = "Idempotent requests"
