"""Patient request bodies and registration through the API (clinical state goes through services)."""

from __future__ import annotations

import itertools
from typing import Any

from tests.conftest import Api

_mrns = itertools.count(1)


def patient_body(**overrides: Any) -> dict[str, Any]:
    """A valid `POST /api/patients/` body with a fresh MRN; override any field."""
    body: dict[str, Any] = {
        "full_name": "Anna Smith",
        "mrn": f"MRN-{next(_mrns):06d}",
        "date_of_birth": "1980-04-12",
        "gender": "F",
    }
    return body | overrides


def register_patient(api: Api, **overrides: Any) -> dict[str, Any]:
    """Register a patient through the API and return the response body."""
    response = api.post("/api/patients/", patient_body(**overrides))
    assert response.status_code == 201, response.content
    return response.json()
