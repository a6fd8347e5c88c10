"""IAM tests run with the principal cache on, as production does with Redis: revocation and
deactivation must win against a cached principal, not against an empty cache."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _principal_cache_on(settings: Any) -> None:
    settings.IAM_PRINCIPAL_CACHE_SECONDS = 30
