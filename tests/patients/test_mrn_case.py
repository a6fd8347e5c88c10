"""MRNs are one identifier whatever their letter case: search ignores case, so does uniqueness."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from hm_core.patients import services
from hm_core.patients.models import Patient
from tests.patients.factories import patient_body, register_patient

URL = "/api/patients/"


def test_an_mrn_differing_only_in_case_is_a_duplicate(world):
    # given
    api = world.api()
    register_patient(api, mrn="LKDF85A")

    # when
    response = api.post(URL, patient_body(mrn="lkdf85a"))

    # then
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_mrn"
    assert Patient.all_tenants.filter(tenant_id=world.tenant.id).count() == 1


def test_changing_an_mrn_to_another_patients_in_other_case_is_a_duplicate(world):
    api = world.api()
    register_patient(api, mrn="LKDF85A")
    other = register_patient(api, mrn="OTHER-1")

    response = api.patch(f"{URL}{other['id']}/", {"mrn": "lkdf85A"})

    assert response.status_code == 409 and response.json()["error"]["code"] == "duplicate_mrn"


def test_a_lost_race_on_a_case_variant_is_409_from_the_database(world, monkeypatch):
    # given: the service's check runs before the other registration commits
    api = world.api()
    register_patient(api, mrn="LKDF85A")
    monkeypatch.setattr(services, "patient_mrn_taken", lambda **kwargs: False)

    # when
    response = api.post(URL, patient_body(mrn="Lkdf85a"))

    # then
    assert response.status_code == 409 and response.json()["error"]["code"] == "duplicate_mrn"


def test_the_database_refuses_case_variants_per_tenant(world, other_world):
    register_patient(world.api(), mrn="ABC-1")
    row = Patient.all_tenants.get(tenant_id=world.tenant.id)

    register_patient(other_world.api(), mrn="abc-1")  # another tenant: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.all_tenants.filter(pk=row.pk).update(mrn="abc-1")  # same row: fine
        row.pk = None
        row.mrn = "aBc-1"
        Patient.all_tenants.bulk_create([row])
