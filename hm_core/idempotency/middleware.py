"""Runs a POST that carries an `Idempotency-Key` in one transaction with its claim.

The claim, the command's events and read models, and the stored response commit together: a
process that dies at any point either committed all of them (the retry replays) or none (the
retry runs afresh). A server error rolls the whole request back, which releases the key.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from hm_core.idempotency.services import idempotency_complete, idempotency_requested


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not idempotency_requested(request):
            return self.get_response(request)
        with transaction.atomic():
            response = self.get_response(request)
            idempotency_complete(request, response)
        return response
