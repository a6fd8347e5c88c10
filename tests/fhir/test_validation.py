"""What the FHIR API serves is checked with fhir.resources; content already checked is known
by its digest and not checked twice."""

from __future__ import annotations

import pytest

from hm_core.fhir import validation
from hm_core.fhir.validation import InvalidResource, validate_served


def _patient(family: str) -> dict:
    return {"resourceType": "Patient", "id": "p-1", "name": [{"family": family}]}


def test_served_content_is_validated_once_and_changed_content_again(monkeypatch):
    # given a counter of the pydantic checks
    checks: list[str] = []
    real = validation.validate

    def counting(resource):
        checks.append(resource["name"][0]["family"])
        return real(resource)

    monkeypatch.setattr(validation, "validate", counting)
    monkeypatch.setattr(validation, "_validated", validation._Validated(size=2))
    # when the same content is served twice, then other content, then the first once more
    for family in ["Curie", "Curie", "Meitner", "Noether", "Curie"]:
        assert validate_served(_patient(family)) == _patient(family)
    # then each new content is checked, a repeat is not, and the oldest was forgotten (size 2)
    assert checks == ["Curie", "Meitner", "Noether", "Curie"]


def test_invalid_served_content_raises_every_time():
    bad = {"resourceType": "Patient", "birthDate": "the day before yesterday"}
    for _ in range(2):
        with pytest.raises(InvalidResource):
            validate_served(bad)
