"""Structured demographics over HTTP (contract §11a): name parts, address, e-mail, emergency
contact, national id; their validation, search, filters, ordering and partial updates."""

from __future__ import annotations

from typing import Any

import pytest

from hm_core.events.models import Event
from hm_core.patients.events import PatientRegistered, PatientUpdated
from tests.patients.factories import patient_body, register_patient

URL = "/api/patients/"
US_ADDRESS = {
    "line1": "350 Fifth Avenue",
    "line2": "Floor 34",
    "city": "New York",
    "state": "NY",
    "postal_code": "10118-0110",
    "country": "US",
}
CONTACT = {"name": "Carl Keller", "relationship": "spouse", "phone": "+1 555 0199"}


def _body(**overrides: Any) -> dict[str, Any]:
    """A registration with a structured name instead of `full_name`."""
    body = {k: v for k, v in patient_body().items() if k != "full_name"}
    return body | {"given_name": "Anna", "family_name": "Smith"} | overrides


def _fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.content
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    return [d["field"] for d in body["details"]]


def _registered_payload(patient_id: str) -> dict[str, Any]:
    """The stored payload, its encrypted fields decrypted (contract §18)."""
    return PatientRegistered.revealed(
        Event.objects.get(stream_id=patient_id, type="patient.registered").payload
    )


def _changes(patient_id: str) -> dict[str, Any]:
    last = Event.objects.filter(stream_id=patient_id).order_by("-stream_version").first()
    assert last is not None and last.type == "patient.updated"
    return PatientUpdated.revealed(last.payload)["changes"]


# --- names ----------------------------------------------------------------------------------


def test_register_with_name_parts_derives_the_full_name(world):
    # when
    response = world.api().post(URL, _body(middle_name="Maria"))

    # then
    assert response.status_code == 201, response.content
    patient = response.json()
    assert patient["full_name"] == "Anna Maria Smith"
    assert (patient["given_name"], patient["middle_name"], patient["family_name"]) == (
        "Anna",
        "Maria",
        "Smith",
    )
    payload = _registered_payload(patient["id"])
    assert (payload["full_name"], payload["family_name"]) == ("Anna Maria Smith", "Smith")


def test_register_with_full_name_and_parts_keeps_both_as_sent(world):
    patient = register_patient(
        world.api(), full_name="Dr. Anna Smith", given_name="Anna", family_name="Smith"
    )

    assert (patient["full_name"], patient["given_name"], patient["family_name"]) == (
        "Dr. Anna Smith",
        "Anna",
        "Smith",
    )


@pytest.mark.parametrize(
    ("full_name", "parts"),
    [
        pytest.param("Anna Smith", ("Anna", "", "Smith"), id="two-words"),
        pytest.param("Anna Maria Louise Smith", ("Anna", "Maria Louise", "Smith"), id="middles"),
        pytest.param("Madonna", ("", "", "Madonna"), id="one-word-is-the-family-name"),
        pytest.param("Maria de la Cruz", ("Maria", "", "de la Cruz"), id="surname-particles"),
        pytest.param("Smith, Anna Maria", ("Anna", "Maria", "Smith"), id="family-comma-given"),
        pytest.param("Anna Smith-Jones", ("Anna", "", "Smith-Jones"), id="hyphenated"),
    ],
)
def test_register_with_full_name_only_splits_it_like_a_registrar(world, full_name, parts):
    patient = register_patient(world.api(), full_name=full_name)

    assert patient["full_name"] == full_name
    assert (patient["given_name"], patient["middle_name"], patient["family_name"]) == parts


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        pytest.param({}, ["full_name"], id="no-name-at-all"),
        pytest.param({"given_name": "Anna"}, ["family_name", "full_name"], id="given-only"),
        pytest.param({"family_name": "Smith"}, ["full_name"], id="family-only"),
        pytest.param({"middle_name": "Maria"}, ["family_name", "full_name"], id="middle-only"),
        pytest.param({"given_name": "", "family_name": "Smith"}, ["given_name"], id="empty"),
        pytest.param({"family_name": "x" * 101, "given_name": "A"}, ["family_name"], id="long"),
    ],
)
def test_register_without_full_name_or_given_and_family_name_is_422(world, name, fields):
    body = {k: v for k, v in patient_body(**name).items() if k != "full_name"}

    response = world.api().post(URL, body)

    assert set(fields) <= set(_fields(response))


def test_patch_of_a_name_part_re_derives_the_full_name_and_the_event_carries_both(world):
    # given
    api = world.api()
    patient = register_patient(api, full_name="Anna Smith")

    # when
    response = api.patch(f"{URL}{patient['id']}/", {"middle_name": "Maria"})

    # then
    assert response.status_code == 200, response.content
    assert response.json()["full_name"] == "Anna Maria Smith"
    assert _changes(patient["id"]) == {"middle_name": "Maria", "full_name": "Anna Maria Smith"}


def test_patch_of_the_full_name_alone_re_splits_the_parts(world):
    api = world.api()
    patient = api.post(URL, _body(middle_name="Maria")).json()

    response = api.patch(f"{URL}{patient['id']}/", {"full_name": "Anna Jones"})

    assert response.status_code == 200, response.content
    updated = response.json()
    assert (updated["given_name"], updated["middle_name"], updated["family_name"]) == (
        "Anna",
        "",
        "Jones",
    )
    assert _changes(patient["id"]) == {
        "full_name": "Anna Jones",
        "middle_name": "",
        "family_name": "Jones",
    }


def test_patch_with_null_middle_name_clears_it(world):
    api = world.api()
    patient = register_patient(api, full_name="Anna Maria Smith")

    response = api.patch(f"{URL}{patient['id']}/", {"middle_name": None})

    assert response.status_code == 200, response.content
    assert (response.json()["middle_name"], response.json()["full_name"]) == ("", "Anna Smith")


# --- address --------------------------------------------------------------------------------


def test_register_with_a_us_address_and_an_emergency_contact_shows_them(world):
    # when
    patient = register_patient(
        world.api(), address=US_ADDRESS, emergency_contact=CONTACT, national_id="123-45-6789"
    )

    # then
    assert patient["address"] == US_ADDRESS
    assert patient["emergency_contact"] == CONTACT
    assert patient["national_id"] == "123-45-6789"
    payload = _registered_payload(patient["id"])
    assert (payload["address"], payload["emergency_contact"]) == (US_ADDRESS, CONTACT)


def test_an_address_without_optional_parts_and_in_lower_case_is_normalised(world):
    address = {"line1": "1 Main St", "city": "Springfield", "state": "il", "postal_code": "62701"}

    patient = register_patient(world.api(), address=address | {"country": "us"})

    assert patient["address"] == address | {"line2": "", "state": "IL", "country": "US"}


def test_a_non_us_address_needs_neither_state_nor_us_postal_code(world):
    address = {"line1": "Bahnhofstrasse 1", "city": "Zürich", "postal_code": "8001"}

    patient = register_patient(world.api(), address=address | {"country": "CH"})

    assert patient["address"]["country"] == "CH" and patient["address"]["state"] == ""


@pytest.mark.parametrize(
    ("address", "field"),
    [
        pytest.param(US_ADDRESS | {"state": "XX"}, "address.state", id="us-state-unknown"),
        pytest.param(US_ADDRESS | {"state": "New York"}, "address.state", id="us-state-name"),
        pytest.param(US_ADDRESS | {"state": None}, "address.state", id="us-state-missing"),
        pytest.param(US_ADDRESS | {"postal_code": "1011"}, "address.postal_code", id="zip-4"),
        pytest.param(US_ADDRESS | {"postal_code": "10118-01"}, "address.postal_code", id="zip+2"),
        pytest.param(US_ADDRESS | {"postal_code": None}, "address.postal_code", id="zip-missing"),
        pytest.param(US_ADDRESS | {"country": "ZZ"}, "address.country", id="country-unknown"),
        pytest.param(US_ADDRESS | {"country": "USA"}, "address.country", id="country-alpha3"),
        pytest.param({k: v for k, v in US_ADDRESS.items() if k != "country"}, "address.country"),
        pytest.param(US_ADDRESS | {"city": ""}, "address.city", id="city-empty"),
        pytest.param(US_ADDRESS | {"street": "x"}, "address.street", id="unknown-key"),
        pytest.param("350 Fifth Avenue, New York", "address", id="free-text"),
    ],
)
def test_an_invalid_address_is_422_naming_the_field_and_writes_nothing(world, address, field):
    # given
    before = Event.objects.filter(tenant_id=world.tenant.id).count()

    # when
    response = world.api().post(URL, patient_body(address=address))

    # then
    assert _fields(response) == [field]
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == before


def test_patch_of_the_address_replaces_it_whole_and_null_clears_it(world):
    # given
    api = world.api()
    patient = register_patient(api, address=US_ADDRESS)
    moved = US_ADDRESS | {"line1": "1 Broadway", "line2": "", "postal_code": "10004"}

    # when
    response = api.patch(f"{URL}{patient['id']}/", {"address": moved})

    # then
    assert response.status_code == 200, response.content
    assert response.json()["address"] == moved
    assert _changes(patient["id"]) == {"address": moved}

    # when
    response = api.patch(f"{URL}{patient['id']}/", {"address": None})

    # then
    assert response.status_code == 200, response.content
    assert response.json()["address"] is None
    assert _changes(patient["id"]) == {"address": None}


def test_patch_with_an_invalid_us_zip_is_422(world):
    api = world.api()
    patient = register_patient(api, address=US_ADDRESS)

    response = api.patch(f"{URL}{patient['id']}/", {"address": US_ADDRESS | {"postal_code": "x"}})

    assert _fields(response) == ["address.postal_code"]


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        pytest.param(CONTACT | {"phone": "call me"}, "emergency_contact.phone", id="phone"),
        pytest.param({"name": "Carl", "phone": "555 0199"}, "emergency_contact.relationship"),
    ],
)
def test_an_invalid_emergency_contact_is_422(world, contact, field):
    response = world.api().post(URL, patient_body(emergency_contact=contact))

    assert _fields(response) == [field]


# --- e-mail, search, filters, ordering --------------------------------------------------------


def test_email_is_stored_lower_cased_and_filtered_exactly_in_any_case(world):
    # given
    api = world.api()
    anna = register_patient(api, full_name="Anna Smith", email="Anna.Smith@Example.ORG")
    register_patient(api, full_name="Ann Smith", email="ann.smith@example.org")

    # when
    found = api.get(URL, {"email": "ANNA.smith@example.org"})
    prefix = api.get(URL, {"email": "anna.smith@example"})

    # then
    assert anna["email"] == "anna.smith@example.org"
    assert _registered_payload(anna["id"])["email"] == "anna.smith@example.org"
    assert [p["id"] for p in found.json()["items"]] == [anna["id"]]
    assert prefix.json() == {"items": [], "count": 0}


def test_search_matches_the_whole_email_too_in_any_case(world):
    api = world.api()
    anna = register_patient(api, full_name="Anna Smith", email="nurse.joy@clinic.example")
    register_patient(api, full_name="Bruno Keller")

    response = api.get(URL, {"search": "Nurse.Joy@Clinic.example"})
    part = api.get(URL, {"search": "nurse.joy"})  # encrypted: no substring search

    assert [p["id"] for p in response.json()["items"]] == [anna["id"]]
    assert part.json()["count"] == 0


def test_patch_of_the_email_lower_cases_it(world):
    api = world.api()
    patient = register_patient(api, email="anna@example.org")

    response = api.patch(f"{URL}{patient['id']}/", {"email": "ANNA@example.org"})

    assert response.json()["email"] == "anna@example.org"
    assert response.json()["version"] == 1  # the same address: nothing changed, no event


def test_ordering_by_family_name_breaks_ties_by_given_name(world):
    # given
    api = world.api()
    for given, family in [("Carla", "Smith"), ("Anna", "Smith"), ("Zoe", "Adams"), ("Bea", "Li")]:
        assert api.post(URL, _body(given_name=given, family_name=family)).status_code == 201

    # when
    ascending = api.get(URL, {"ordering": "family_name"}).json()["items"]
    descending = api.get(URL, {"ordering": "-family_name"}).json()["items"]
    by_given = api.get(URL, {"ordering": "-given_name"}).json()["items"]

    # then
    expected = ["Zoe Adams", "Bea Li", "Anna Smith", "Carla Smith"]
    assert [p["full_name"] for p in ascending] == expected
    assert [p["full_name"] for p in descending] == expected[::-1]
    assert [p["given_name"] for p in by_given] == ["Zoe", "Carla", "Bea", "Anna"]
