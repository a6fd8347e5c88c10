"""Patient endpoints end to end over HTTP (contract §3): register, list, detail, patch, delete,
restore and the patient timeline."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.events.models import Event
from hm_core.patients.events import PatientUpdated
from hm_core.patients.models import Patient
from tests.patients.factories import patient_body, register_patient

PATIENT_FIELDS = {
    "id",
    "mrn",
    "full_name",
    "given_name",
    "middle_name",
    "family_name",
    "date_of_birth",
    "gender",
    "phone",
    "email",
    "address",
    "emergency_contact",
    "national_id",
    "confidential",
    "facility_id",
    "version",
    "is_deleted",
    "created_at",
    "updated_at",
}
TIMELINE_ITEM_FIELDS = {
    "position",
    "event_id",
    "type",
    "occurred_at",
    "actor",
    "facility_id",
    "stream",
    "summary",
    "data",
}


def _today() -> date:
    return datetime.now(tz=UTC).date()


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _written(world) -> tuple[int, int]:
    """(events, patient rows) of the world's tenant: proves whether a request wrote anything."""
    events = Event.objects.filter(tenant_id=world.tenant.id).count()
    patients = Patient.all_tenants.filter(tenant_id=world.tenant.id).count()
    return events, patients


def _events_of(patient_id) -> list[Event]:
    return list(Event.objects.filter(stream_id=patient_id).order_by("stream_version"))


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


# --- register -------------------------------------------------------------------------------


def test_register_answers_201_with_the_patient_and_an_etag(world):
    # given
    api = world.api("receptionist")
    body = patient_body(
        full_name="Bruno Keller",
        mrn="MRN-A1",
        date_of_birth="1975-06-30",
        gender="M",
        phone="+41 44 123 45 67",
        email="bruno@example.org",
        address={
            "line1": "Main street 1",
            "line2": "",
            "city": "Zurich",
            "state": "",
            "postal_code": "8001",
            "country": "CH",
        },
    )

    # when
    response = api.post("/api/patients/", body)

    # then
    assert response.status_code == 201, response.content
    patient = response.json()
    assert set(patient) == PATIENT_FIELDS
    assert {k: patient[k] for k in body} == body
    assert (patient["given_name"], patient["middle_name"], patient["family_name"]) == (
        "Bruno",
        "",
        "Keller",
    )
    assert patient["facility_id"] == str(world.main.id)
    assert patient["version"] == 1 and patient["is_deleted"] is False
    assert patient["created_at"] == patient["updated_at"]
    assert response["ETag"] == '"1"'
    [event] = _events_of(patient["id"])
    assert event.type == "patient.registered" and event.stream_type == "patient"
    assert event.actor_id == world.users["receptionist"].id


def test_register_stores_missing_optional_fields_as_empty_strings_or_null_objects(world):
    patient = register_patient(world.api())
    assert (patient["phone"], patient["email"], patient["national_id"]) == ("", "", "")
    assert (patient["address"], patient["emergency_contact"]) == (None, None)


def test_register_with_a_duplicate_mrn_is_409_and_writes_nothing(world):
    # given
    api = world.api()
    register_patient(api, mrn="MRN-DUP")
    before = _written(world)

    # when
    response = api.post("/api/patients/", patient_body(mrn="MRN-DUP", full_name="Other Person"))

    # then
    _assert_error(response, 409, "duplicate_mrn")
    assert _written(world) == before


def test_an_mrn_is_not_reused_after_a_soft_delete(world):
    api = world.api()
    patient = register_patient(api, mrn="MRN-GONE")
    assert api.delete(f"/api/patients/{patient['id']}/").status_code == 204
    before = _written(world)

    response = api.post("/api/patients/", patient_body(mrn="MRN-GONE"))

    _assert_error(response, 409, "duplicate_mrn")
    assert _written(world) == before


@pytest.mark.parametrize(
    "date_of_birth",
    [
        pytest.param(lambda today: today + timedelta(days=1), id="tomorrow"),
        pytest.param(lambda today: today + timedelta(days=3650), id="in-ten-years"),
        pytest.param(
            lambda today: _years_before(today, 150) - timedelta(days=1), id="over-150-years"
        ),
        pytest.param(lambda today: date(1800, 1, 1), id="year-1800"),
    ],
)
def test_register_with_an_impossible_date_of_birth_is_422_and_writes_nothing(world, date_of_birth):
    # given
    api = world.api()
    before = _written(world)

    # when
    body = patient_body(date_of_birth=date_of_birth(_today()).isoformat())
    response = api.post("/api/patients/", body)

    # then
    error = _assert_error(response, 422, "validation_error")
    assert [d["field"] for d in error["details"]] == ["date_of_birth"]
    assert _written(world) == before


@pytest.mark.parametrize(
    "date_of_birth",
    [
        pytest.param(lambda today: today, id="born-today"),
        pytest.param(lambda today: _years_before(today, 150), id="exactly-150-years"),
    ],
)
def test_register_accepts_the_edges_of_the_date_of_birth_range(world, date_of_birth):
    body = patient_body(date_of_birth=date_of_birth(_today()).isoformat())
    response = world.api().post("/api/patients/", body)
    assert response.status_code == 201, response.content


# --- list -----------------------------------------------------------------------------------


@pytest.fixture
def roster(world):
    """Four patients with distinct names, MRNs, phones, birth dates and genders."""
    api = world.api()
    people = [
        ("Carla Diaz", "MRN-300", "+1 555 0100", "1990-03-01", "F"),
        ("Anna Smith", "MRN-100", "+1 555 0200", "1960-01-15", "F"),
        ("Dmitri Volkov", "XYZ-400", "+44 20 7946", "2001-11-30", "M"),
        ("Bruno Keller", "MRN-200", "+41 44 1234", "1985-07-07", "O"),
    ]
    return [
        register_patient(
            api, full_name=name, mrn=mrn, phone=phone, date_of_birth=dob, gender=gender
        )
        for name, mrn, phone, dob, gender in people
    ]


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["full_name"] for item in response.json()["items"]]


def test_list_answers_items_and_count_newest_first_by_default(world, roster):
    response = world.api("nurse").get("/api/patients/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "count"}
    assert body["count"] == 4
    assert [p["id"] for p in body["items"]] == [p["id"] for p in reversed(roster)]
    assert all(set(item) == PATIENT_FIELDS for item in body["items"])


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        pytest.param("smi", ["Anna Smith"], id="name-substring-any-case"),
        pytest.param("KELL", ["Bruno Keller"], id="name-substring-upper-case"),
        pytest.param("MRN-", ["Anna Smith", "Bruno Keller", "Carla Diaz"], id="mrn-prefix"),
        pytest.param("mrn-3", ["Carla Diaz"], id="mrn-prefix-any-case"),
        pytest.param("+44 20 7946", ["Dmitri Volkov"], id="whole-phone"),
        pytest.param("+1-555-0100", ["Carla Diaz"], id="whole-phone-other-punctuation"),
        pytest.param("+44", [], id="phone-prefix-is-no-match-phones-are-encrypted"),
        pytest.param("400", [], id="mrn-infix-is-no-match"),
        pytest.param("0200", [], id="phone-infix-is-no-match"),
        pytest.param("nobody", [], id="no-match"),
    ],
)
def test_list_search_matches_name_substring_mrn_prefix_and_whole_phone(
    world, roster, search, expected
):
    response = world.api().get("/api/patients/", {"search": search, "ordering": "full_name"})

    assert _names(response) == expected
    assert response.json()["count"] == len(expected)


def test_list_filters_by_gender(world, roster):
    response = world.api().get("/api/patients/", {"gender": "F", "ordering": "full_name"})

    assert _names(response) == ["Anna Smith", "Carla Diaz"]
    assert response.json()["count"] == 2


def test_list_with_an_unknown_gender_is_422(world, roster):
    response = world.api().get("/api/patients/", {"gender": "X"})
    error = _assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "gender"


@pytest.mark.parametrize(
    "ordering",
    [
        "full_name",
        "-full_name",
        "family_name",
        "-family_name",
        "given_name",
        "-given_name",
        "created_at",
        "-created_at",
        "mrn",
        "-mrn",
        "date_of_birth",
        "-date_of_birth",
    ],
)
def test_list_orders_by_every_supported_field(world, roster, ordering):
    # given
    field = ordering.lstrip("-")
    expected = sorted(roster, key=lambda p: p["id"])  # the id breaks ties, ascending
    expected = sorted(expected, key=lambda p: p[field], reverse=ordering.startswith("-"))

    # when
    response = world.api().get("/api/patients/", {"ordering": ordering})

    # then
    assert response.status_code == 200, response.content
    assert [p["id"] for p in response.json()["items"]] == [p["id"] for p in expected]


def test_list_with_an_unknown_ordering_is_422(world, roster):
    response = world.api().get("/api/patients/", {"ordering": "phone"})
    _assert_error(response, 422, "validation_error")


def test_list_pages_with_limit_and_offset_and_counts_every_match(world, roster):
    api = world.api()

    first = api.get("/api/patients/", {"ordering": "full_name", "limit": 3})
    second = api.get("/api/patients/", {"ordering": "full_name", "limit": 3, "offset": 3})
    beyond = api.get("/api/patients/", {"ordering": "full_name", "limit": 3, "offset": 10})

    assert _names(first) == ["Anna Smith", "Bruno Keller", "Carla Diaz"]
    assert _names(second) == ["Dmitri Volkov"]
    assert _names(beyond) == []
    assert [r.json()["count"] for r in (first, second, beyond)] == [4, 4, 4]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": 201}, id="limit-over-200"),
        pytest.param({"limit": 0}, id="limit-zero"),
        pytest.param({"limit": -1}, id="limit-negative"),
        pytest.param({"offset": -1}, id="offset-negative"),
        pytest.param({"limit": "ten"}, id="limit-not-a-number"),
    ],
)
def test_list_with_an_out_of_range_page_is_422(world, params):
    response = world.api().get("/api/patients/", params)
    error = _assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] in params


def test_list_accepts_the_maximum_limit(world, roster):
    response = world.api().get("/api/patients/", {"limit": 200})
    assert response.status_code == 200 and response.json()["count"] == 4


def _list_queries(api, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = api.get("/api/patients/", params)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="plain"),
        pytest.param({"search": "Pat", "gender": "F", "ordering": "mrn"}, id="filtered"),
    ],
)
def test_list_query_count_does_not_grow_with_the_number_of_patients(
    world, params, django_assert_max_num_queries
):
    # given
    api = world.api()
    for i in range(3):
        register_patient(api, full_name=f"Patient {i}")
    with_three = _list_queries(api, params)
    for i in range(3, 30):
        register_patient(api, full_name=f"Patient {i}")

    # when
    with django_assert_max_num_queries(with_three):
        response = api.get("/api/patients/", params)

    # then
    assert response.json()["count"] == 30
    assert _list_queries(api, params) == with_three


# --- detail ---------------------------------------------------------------------------------


def test_detail_answers_the_patient_with_its_etag(world):
    patient = register_patient(world.api())

    response = world.api("doctor").get(f"/api/patients/{patient['id']}/")

    assert response.status_code == 200
    assert response.json() == patient
    assert response["ETag"] == '"1"'


def test_detail_of_an_unknown_patient_is_404(world):
    response = world.api().get(f"/api/patients/{uuid.uuid4()}/")
    error = _assert_error(response, 404, "not_found")
    assert error["details"] == {"resource": "patient"}


def test_detail_with_a_non_uuid_id_is_422_naming_the_path_parameter(world):
    response = world.api().get("/api/patients/not-a-uuid/")
    error = _assert_error(response, 422, "validation_error")
    assert [d["field"] for d in error["details"]] == ["patient_id"]


# --- patch ----------------------------------------------------------------------------------


def test_patch_changes_the_sent_fields_only_and_the_event_carries_the_changed_ones(world):
    # given
    api = world.api("receptionist")
    patient = register_patient(api, full_name="Anna Smith", gender="F", phone="+1 555 0100")

    # when: gender is sent unchanged, so only the name and the email really change (of the
    # name parts re-split from the new full name, only the family name changed)
    response = api.patch(
        f"/api/patients/{patient['id']}/",
        {"full_name": "Anna Smith-Jones", "gender": "F", "email": "anna@example.org"},
    )

    # then
    assert response.status_code == 200, response.content
    updated = response.json()
    assert updated["full_name"] == "Anna Smith-Jones"
    assert updated["email"] == "anna@example.org"
    assert updated["phone"] == "+1 555 0100" and updated["mrn"] == patient["mrn"]
    assert updated["version"] == 2 and response["ETag"] == '"2"'
    assert updated["updated_at"] > patient["updated_at"]
    assert updated["created_at"] == patient["created_at"]
    _registered, changed = _events_of(patient["id"])
    assert changed.type == "patient.updated" and changed.stream_version == 2
    assert PatientUpdated.revealed(changed.payload)["changes"] == {
        "full_name": "Anna Smith-Jones",
        "family_name": "Smith-Jones",
        "email": "anna@example.org",
    }


def test_patch_of_the_date_of_birth_stores_it_as_an_iso_date(world):
    api = world.api()
    patient = register_patient(api, date_of_birth="1980-04-12")

    response = api.patch(f"/api/patients/{patient['id']}/", {"date_of_birth": "1981-05-13"})

    assert response.status_code == 200, response.content
    assert response.json()["date_of_birth"] == "1981-05-13"
    assert _events_of(patient["id"])[-1].payload["changes"] == {"date_of_birth": "1981-05-13"}


def test_patch_with_null_clears_an_optional_field(world):
    api = world.api()
    patient = register_patient(api, phone="+1 555 0100")

    response = api.patch(f"/api/patients/{patient['id']}/", {"phone": None})

    assert response.status_code == 200, response.content
    assert response.json()["phone"] == ""
    assert PatientUpdated.revealed(_events_of(patient["id"])[-1].payload)["changes"] == {
        "phone": ""
    }


@pytest.mark.parametrize(
    "field", ["full_name", "given_name", "family_name", "mrn", "date_of_birth", "gender"]
)
def test_patch_with_null_for_a_required_field_is_422(world, field):
    api = world.api()
    patient = register_patient(api)
    before = _written(world)

    response = api.patch(f"/api/patients/{patient['id']}/", {field: None})

    error = _assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == field
    assert _written(world) == before


def test_patch_that_changes_nothing_appends_no_event(world):
    api = world.api()
    patient = register_patient(api, full_name="Anna Smith")

    response = api.patch(f"/api/patients/{patient['id']}/", {"full_name": "Anna Smith"})

    assert response.status_code == 200
    assert response.json()["version"] == 1 and response["ETag"] == '"1"'
    assert len(_events_of(patient["id"])) == 1


def test_patch_to_an_mrn_of_another_patient_is_409(world):
    api = world.api()
    register_patient(api, mrn="MRN-TAKEN")
    patient = register_patient(api)
    before = _written(world)

    response = api.patch(f"/api/patients/{patient['id']}/", {"mrn": "MRN-TAKEN"})

    _assert_error(response, 409, "duplicate_mrn")
    assert _written(world) == before


def test_patch_into_the_future_is_422(world):
    api = world.api()
    patient = register_patient(api)
    tomorrow = (_today() + timedelta(days=1)).isoformat()

    response = api.patch(f"/api/patients/{patient['id']}/", {"date_of_birth": tomorrow})

    _assert_error(response, 422, "validation_error")
    assert len(_events_of(patient["id"])) == 1


def test_patch_with_a_stale_if_match_is_412_and_writes_nothing(world):
    # given
    api = world.api()
    patient = register_patient(api)
    api.patch(f"/api/patients/{patient['id']}/", {"full_name": "First Change"})
    before = _written(world)

    # when
    response = api.patch(
        f"/api/patients/{patient['id']}/", {"full_name": "Lost Update"}, headers={"If-Match": '"1"'}
    )

    # then
    error = _assert_error(response, 412, "version_mismatch")
    assert error["details"] == {"current_version": 2}
    assert _written(world) == before
    assert api.get(f"/api/patients/{patient['id']}/").json()["full_name"] == "First Change"


@pytest.mark.parametrize("if_match", ['"1"', "1", 'W/"1"', "*"])
def test_patch_with_the_current_if_match_succeeds(world, if_match):
    api = world.api()
    patient = register_patient(api)

    response = api.patch(
        f"/api/patients/{patient['id']}/", {"full_name": "New Name"}, headers={"If-Match": if_match}
    )

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2 and response["ETag"] == '"2"'


def test_patch_with_a_garbled_if_match_is_412(world):
    api = world.api()
    patient = register_patient(api)

    response = api.patch(
        f"/api/patients/{patient['id']}/", {"full_name": "X"}, headers={"If-Match": "abc"}
    )

    _assert_error(response, 412, "version_mismatch")
    assert len(_events_of(patient["id"])) == 1


def test_patch_of_an_unknown_patient_is_404(world):
    response = world.api().patch(f"/api/patients/{uuid.uuid4()}/", {"full_name": "X"})
    _assert_error(response, 404, "not_found")


# --- delete and restore ---------------------------------------------------------------------


def test_delete_is_a_soft_delete_the_patient_leaves_list_and_detail_but_row_and_events_stay(world):
    # given
    api = world.api()
    patient = register_patient(api)
    kept = register_patient(api)

    # when
    response = api.delete(f"/api/patients/{patient['id']}/")

    # then
    assert response.status_code == 204 and response.content == b""
    listed = api.get("/api/patients/").json()
    assert [p["id"] for p in listed["items"]] == [kept["id"]] and listed["count"] == 1
    _assert_error(api.get(f"/api/patients/{patient['id']}/"), 404, "not_found")
    row = Patient.all_tenants.get(id=patient["id"])
    assert row.is_deleted and row.deleted_at is not None and row.version == 2
    assert [e.type for e in _events_of(patient["id"])] == ["patient.registered", "patient.deleted"]


def test_a_deleted_patient_cannot_be_deleted_or_patched_again(world):
    api = world.api()
    patient = register_patient(api)
    api.delete(f"/api/patients/{patient['id']}/")
    before = _written(world)

    _assert_error(api.delete(f"/api/patients/{patient['id']}/"), 404, "not_found")
    _assert_error(
        api.patch(f"/api/patients/{patient['id']}/", {"full_name": "X"}), 404, "not_found"
    )
    assert _written(world) == before


def test_delete_with_a_stale_if_match_is_412(world):
    api = world.api()
    patient = register_patient(api)
    api.patch(f"/api/patients/{patient['id']}/", {"full_name": "Changed"})

    response = api.delete(f"/api/patients/{patient['id']}/", headers={"If-Match": '"1"'})

    _assert_error(response, 412, "version_mismatch")
    assert api.get(f"/api/patients/{patient['id']}/").status_code == 200


def test_delete_of_an_unknown_patient_is_404(world):
    _assert_error(world.api().delete(f"/api/patients/{uuid.uuid4()}/"), 404, "not_found")


def test_restore_by_an_admin_brings_the_patient_back(world):
    # given
    api = world.api("admin")
    patient = register_patient(api)
    api.delete(f"/api/patients/{patient['id']}/")

    # when
    response = api.post(f"/api/patients/{patient['id']}/restore/")

    # then
    assert response.status_code == 200, response.content
    restored = response.json()
    assert restored["is_deleted"] is False and restored["version"] == 3
    assert response["ETag"] == '"3"'
    assert api.get(f"/api/patients/{patient['id']}/").status_code == 200
    assert [p["id"] for p in api.get("/api/patients/").json()["items"]] == [patient["id"]]
    assert _events_of(patient["id"])[-1].type == "patient.restored"


def test_restore_of_a_patient_that_is_not_deleted_is_an_invalid_transition(world):
    api = world.api()
    patient = register_patient(api)
    before = _written(world)

    response = api.post(f"/api/patients/{patient['id']}/restore/")

    error = _assert_error(response, 409, "invalid_transition")
    assert error["details"] == {"from": "ACTIVE"}
    assert _written(world) == before


def test_restore_of_an_unknown_patient_is_404(world):
    _assert_error(world.api().post(f"/api/patients/{uuid.uuid4()}/restore/"), 404, "not_found")


# --- timeline -------------------------------------------------------------------------------


@pytest.fixture
def lived(world):
    """A patient registered, updated, deleted and restored: four events on its stream."""
    api = world.api()
    patient = register_patient(api, full_name="Anna Smith", mrn="MRN-LIFE")
    api.patch(f"/api/patients/{patient['id']}/", {"full_name": "Anna Jones"})
    api.delete(f"/api/patients/{patient['id']}/")
    api.post(f"/api/patients/{patient['id']}/restore/")
    return patient


def test_timeline_shows_every_patient_event_oldest_first_in_the_contract_shape(world, lived):
    # when
    response = world.api("doctor").get(f"/api/patients/{lived['id']}/timeline/")

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"items", "next"} and body["next"] is None
    items = body["items"]
    assert [i["type"] for i in items] == [
        "patient.registered",
        "patient.updated",
        "patient.deleted",
        "patient.restored",
    ]
    assert all(set(item) == TIMELINE_ITEM_FIELDS for item in items)
    positions = [i["position"] for i in items]
    assert positions == sorted(positions)
    events = _events_of(lived["id"])
    assert [i["event_id"] for i in items] == [str(e.id) for e in events]
    assert [i["position"] for i in items] == [e.position for e in events]
    first = items[0]
    assert first["actor"] == {"id": str(world.users["admin"].id), "username": "admin@acme"}
    assert first["facility_id"] == str(world.main.id)
    assert first["stream"] == {"type": "patient", "id": lived["id"]}
    assert "Anna Smith" in first["summary"] and "MRN-LIFE" in first["summary"]
    assert first["data"]["mrn"] == "MRN-LIFE"
    assert items[1]["data"]["changes"] == {"full_name": "Anna Jones", "family_name": "Jones"}
    assert datetime.fromisoformat(first["occurred_at"]).tzinfo is not None


def test_timeline_pages_with_after_and_limit(world, lived):
    api = world.api()
    url = f"/api/patients/{lived['id']}/timeline/"

    first = api.get(url, {"limit": 3}).json()
    second = api.get(url, {"limit": 3, "after": first["next"]}).json()

    assert [i["type"] for i in first["items"]] == [
        "patient.registered",
        "patient.updated",
        "patient.deleted",
    ]
    assert first["next"] == first["items"][-1]["position"]
    assert [i["type"] for i in second["items"]] == ["patient.restored"]
    assert second["next"] is None


def test_timeline_page_that_ends_exactly_at_the_last_item_has_no_next(world, lived):
    page = world.api().get(f"/api/patients/{lived['id']}/timeline/", {"limit": 4}).json()
    assert len(page["items"]) == 4 and page["next"] is None


def test_timeline_only_shows_the_patients_own_events(world, lived):
    other = register_patient(world.api())

    items = world.api().get(f"/api/patients/{other['id']}/timeline/").json()["items"]

    assert [i["type"] for i in items] == ["patient.registered"]
    assert items[0]["stream"]["id"] == other["id"]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"after": -1}, {"after": "x"}],
    ids=["limit-zero", "limit-over-200", "after-negative", "after-not-a-number"],
)
def test_timeline_with_bad_paging_is_422(world, lived, params):
    response = world.api().get(f"/api/patients/{lived['id']}/timeline/", params)
    _assert_error(response, 422, "validation_error")


def test_timeline_of_an_unknown_or_deleted_patient_is_404(world):
    api = world.api()
    deleted = register_patient(api)
    api.delete(f"/api/patients/{deleted['id']}/")

    _assert_error(api.get(f"/api/patients/{uuid.uuid4()}/timeline/"), 404, "not_found")
    _assert_error(api.get(f"/api/patients/{deleted['id']}/timeline/"), 404, "not_found")


def test_timeline_query_count_does_not_grow_with_the_history(world):
    # given
    api = world.api()
    short = register_patient(api)
    long = register_patient(api)
    for i in range(30):
        api.patch(f"/api/patients/{long['id']}/", {"full_name": f"Name {i}"})

    # when
    with CaptureQueriesContext(connection) as short_ctx:
        api.get(f"/api/patients/{short['id']}/timeline/")
    with CaptureQueriesContext(connection) as long_ctx:
        response = api.get(f"/api/patients/{long['id']}/timeline/")

    # then
    assert len(response.json()["items"]) == 31
    assert len(long_ctx.captured_queries) == len(short_ctx.captured_queries)
