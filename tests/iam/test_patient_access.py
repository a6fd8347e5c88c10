"""Role `patient` (contract §17): a patient's own account sees its own record and nothing else.

The sweeps walk the OpenAPI document, so an endpoint added later is covered without touching
this file: every GET answers 404 or shows nothing of another patient, every write is 404 and
appends nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

import pytest
from django.test import Client

from config.api import api
from hm_core.catalog.services import catalog_seed
from hm_core.events.models import Event
from hm_core.iam.patient_access import PATIENT_ROUTES
from hm_core.notifications.models import Notification
from hm_core.scheduling.services import appointment_book
from tests.conftest import Api, World, build_world
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import K_NORMAL, enter, item_of, place_order, receive, samples_of
from tests.scheduling.conftest import MONDAY, at, iso, make_patient, make_schedule

PASSWORD = "Portal-Heron-Basket-7"
UNSCOPED = re.compile(r"^/api/(auth|health)/")


@dataclass
class Chart:
    """One patient's ids: the patient, an encounter, an order, a sample, results and a booked
    appointment."""

    patient: str
    encounter: str
    order: str
    sample: str
    released: str
    appointment: str
    pending: str | None = None

    def ids(self) -> set[str]:
        return {v for v in vars(self).values() if v}


def _chart(world: World, *, pending: bool, slot: str) -> Chart:
    """A checked-in patient with a released K result (and an entered, unreleased CRP) and an
    appointment booked at `slot` on the doctor's grid."""
    doctor, tech, tech2 = world.api("doctor"), world.api("lab_tech"), world.api("lab_tech2")
    encounter = make_encounter(world, "CHECKED_IN", patient=make_patient(world))
    order = place_order(doctor, encounter, "K", "CRP")
    samples = samples_of(tech, order)
    for sample in samples:
        receive(tech, sample)
    released = enter(tech, item_of(order, "K")["id"], K_NORMAL).json()
    assert tech2.post(f"/api/lab/results/{released['id']}/verify/").status_code == 200
    assert tech.post(f"/api/lab/results/{released['id']}/release/").status_code == 200
    appointment = appointment_book(
        scope=world.scope("receptionist"),
        patient_id=encounter.patient_id,
        practitioner_id=world.users["doctor"].id,
        start=at(MONDAY, slot),
        end=None,
        reason="Follow-up",
    )
    chart = Chart(
        patient=str(encounter.patient_id),
        encounter=str(encounter.id),
        order=order["id"],
        sample=samples[0]["id"],
        released=released["id"],
        appointment=str(appointment.id),
    )
    if pending:
        crp = enter(tech, item_of(order, "CRP")["id"], {"CRP": {"value": "3", "unit": "mg/L"}})
        assert crp.status_code == 201, crp.json()
        chart.pending = crp.json()["id"]
    return chart


def _portal(world: World, patient: str, username: str = "ada@portal") -> Api:
    """The admin opens the patient's account; the patient signs in at the token endpoint."""
    body = {
        "username": username,
        "full_name": "Ada Lovelace",
        "email": "ada@example.org",
        "password": PASSWORD,
        "patient": patient,
    }
    created = world.api("admin").post("/api/iam/users/", body)
    assert created.status_code == 201, created.content
    token = Client().post(
        "/api/auth/token/",
        data=json.dumps({"username": username, "password": PASSWORD}),
        content_type="application/json",
    )
    assert token.status_code == 200, token.content
    api = Api(None, world.tenant.id, world.main.id)
    api.headers["Authorization"] = f"Bearer {token.json()['access']}"
    return api


@dataclass
class Portal:
    world: World
    own: Chart
    other: Chart
    api: Api


@pytest.fixture
def portal(world: World) -> Portal:
    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    make_schedule(world)
    own = _chart(world, pending=True, slot="09:00")
    other = _chart(world, pending=False, slot="09:30")
    return Portal(world, own, other, _portal(world, own.patient))


def _operations(method_filter: set[str]) -> list[tuple[str, str]]:
    document = api.get_openapi_schema()
    return [
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in method_filter and not UNSCOPED.match(path)
    ]


GETS = _operations({"get"})
WRITES = _operations({"post", "put", "patch", "delete"})


def _fill(path: str, chart: Chart) -> str:
    """Path parameters named after a chart's ids take that chart's; others a fresh id."""
    known = {
        "patient_id": chart.patient,
        "encounter_id": chart.encounter,
        "order_id": chart.order,
        "sample_id": chart.sample,
        "result_id": chart.released,
        "appointment_id": chart.appointment,
    }
    return re.sub(r"\{(\w+)\}", lambda m: known.get(m.group(1), str(uuid.uuid4())), path)


# --- what the patient sees ----------------------------------------------------------------------


def test_the_patient_reads_its_own_record_encounters_and_released_results(portal):
    api, own = portal.api, portal.own

    assert api.get(f"/api/patients/{own.patient}/").json()["id"] == own.patient
    assert api.get(f"/api/patients/{own.patient.upper()}/").status_code == 200
    encounters = api.get("/api/encounters/").json()
    assert [e["id"] for e in encounters["items"]] == [own.encounter] and encounters["count"] == 1
    assert api.get(f"/api/encounters/{own.encounter}/").status_code == 200
    results = api.get("/api/lab/results/").json()
    assert [r["id"] for r in results["items"]] == [own.released] and results["count"] == 1
    assert api.get(f"/api/lab/results/{own.released}/").json()["status"] == "RELEASED"


def test_a_confidential_patient_reads_its_own_record_it_is_on_its_own_care_team(portal):
    # given: the patient is marked confidential; its account is on no encounter, order or task
    api, own = portal.api, portal.own
    marked = portal.world.api("admin").patch(
        f"/api/patients/{own.patient}/", {"confidential": True}
    )
    assert marked.status_code == 200, marked.content
    assert marked.json()["confidential"] is True

    # when / then: its record, its encounters and its released results, as before
    assert api.get(f"/api/patients/{own.patient}/").json()["id"] == own.patient
    encounters = api.get("/api/encounters/").json()
    assert [e["id"] for e in encounters["items"]] == [own.encounter]
    assert api.get(f"/api/encounters/{own.encounter}/").status_code == 200
    assert [r["id"] for r in api.get("/api/lab/results/").json()["items"]] == [own.released]
    # and still nothing of another patient, nor staff outside the care team
    assert api.get(f"/api/patients/{portal.other.patient}/").status_code == 404
    assert portal.world.api("billing_clerk").get(f"/api/patients/{own.patient}/").status_code == 404


def test_an_unreleased_result_of_its_own_is_404_to_the_patient(portal):
    response = portal.api.get(f"/api/lab/results/{portal.own.pending}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_patient_account_holds_role_patient_in_the_admins_facility(portal):
    me = portal.api.get("/api/auth/me/").json()

    assert me["memberships"] == [
        {
            "tenant_id": str(portal.world.tenant.id),
            "facility_id": str(portal.world.main.id),
            "roles": ["patient"],
        }
    ]
    annex = Api(None, portal.world.tenant.id, portal.world.annex.id)
    annex.headers["Authorization"] = portal.api.headers["Authorization"]
    assert annex.get(f"/api/patients/{portal.own.patient}/").status_code == 403


# --- the sweeps over the OpenAPI document -------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), GETS, ids=[p for _, p in GETS])
def test_every_get_endpoint_shows_the_patient_nothing_of_another_patient(portal, method, path):
    for chart in (portal.other, portal.own):
        # when: the endpoint is asked about the other patient's ids, then about its own
        response = portal.api.get(_fill(path, chart))

        # then: 404, or an answer naming nothing of the other patient
        assert response.status_code in (200, 404), (chart, response.content)
        if response.status_code == 404:
            assert _error_code(response) == "not_found"
            continue
        text = response.content.decode()
        leaked = {i for i in portal.other.ids() if i in text}
        assert not leaked, f"{path} shows another patient's {leaked}"
        if "{" in path:
            assert chart is portal.own, f"{path} answered about another patient"


def _error_code(response) -> str:
    """The hm_core error code: in `error`, or, on a FHIR path, in the OperationOutcome."""
    body = response.json()
    if body.get("resourceType") == "OperationOutcome":
        return str(body["issue"][0]["details"]["coding"][0]["code"])
    return str(body["error"]["code"])


def test_the_sweep_reaches_the_endpoints_open_to_patients():
    paths = {path for _, path in GETS}
    assert {
        "/api/patients/{patient_id}/",
        "/api/encounters/",
        "/api/encounters/{encounter_id}/",
        "/api/lab/results/",
        "/api/lab/results/{result_id}/",
        "/api/appointments/",
        "/api/appointments/{appointment_id}/",
        "/api/fhir/Patient/{patient_id}/$everything",
        "/api/audit/events/",
        "/api/iam/users/",
    } <= paths


def _open_to_patients(method: str, path: str) -> bool:
    route = re.sub(r"\{(\w+)\}", r"<\1>", path.lstrip("/"))
    return method.upper() in PATIENT_ROUTES.get(route, frozenset())


def _write_body(path: str, chart: Chart, world: World) -> dict[str, str]:
    """For a write open to patients, a valid body about `chart`'s patient; else nothing."""
    if path == "/api/appointments/":
        return {
            "patient": chart.patient,
            "practitioner": str(world.users["doctor"].id),
            "start": iso(at(MONDAY, "11:00")),
            "reason": "Check-up",
        }
    return {"reason": "Cannot come"} if path.endswith("/cancel/") else {}


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_every_write_endpoint_is_404_to_the_patient_and_appends_nothing(portal, method, path):
    # given: a write open to patients is aimed at the other patient, any other at its own
    chart = portal.other if _open_to_patients(method, path) else portal.own
    before = Event.objects.filter(tenant_id=portal.world.tenant.id).count()

    # when
    response = getattr(portal.api, method)(
        _fill(path, chart), _write_body(path, chart, portal.world)
    )

    # then
    assert response.status_code == 404, response.content
    assert _error_code(response) == "not_found"
    assert Event.objects.filter(tenant_id=portal.world.tenant.id).count() == before


def test_the_write_sweep_reaches_the_writes_open_to_patients():
    assert {(m, p) for m, p in WRITES if _open_to_patients(m, p)} == {
        ("post", "/api/appointments/"),
        ("post", "/api/appointments/{appointment_id}/cancel/"),
    }


# --- opening the account ------------------------------------------------------------------------


def test_an_account_for_a_patient_of_another_tenant_or_none_is_422(world):
    rival = build_world("rival")
    theirs = make_encounter(rival, "SCHEDULED").patient_id
    body = {"username": "x@portal", "full_name": "X", "email": "x@example.org"}

    for patient in (str(theirs), str(uuid.uuid4())):
        response = world.api("admin").post("/api/iam/users/", {**body, "patient": patient})
        assert response.status_code == 422, response.content
        assert response.json()["error"]["details"][0]["field"] == "patient"


def test_a_patient_has_one_account(portal):
    body = {
        "username": "again@portal",
        "full_name": "Ada",
        "email": "a@example.org",
        "patient": portal.own.patient,
    }

    response = portal.world.api("admin").post("/api/iam/users/", body)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "patient_has_account"


def test_a_patient_account_cannot_be_given_a_staff_role(portal):
    users = portal.world.api("admin").get("/api/iam/users/").json()["items"]
    account = next(u for u in users if u["patient"] == portal.own.patient)
    body = {"user": account["id"], "facility_id": str(portal.world.main.id), "roles": ["doctor"]}

    response = portal.world.api("admin").post("/api/iam/memberships/", body)

    assert response.status_code == 422
    assert account["memberships"][0]["roles"] == ["patient"]


# --- the patient's own appointments (contract §17 meets §14) -------------------------------------


def test_the_patient_lists_and_reads_its_own_appointments_only(portal):
    api, own, other = portal.api, portal.own, portal.other

    listed = api.get("/api/appointments/").json()
    theirs = api.get("/api/appointments/", {"patient": other.patient}).json()

    assert [a["id"] for a in listed["items"]] == [own.appointment] and listed["count"] == 1
    assert theirs == {**theirs, "items": [], "count": 0}
    assert api.get(f"/api/appointments/{own.appointment}/").json()["patient"] == own.patient
    assert api.get(f"/api/appointments/{other.appointment}/").status_code == 404


def test_the_patient_books_for_itself_and_is_reminded(portal):
    body = _write_body("/api/appointments/", portal.own, portal.world)

    response = portal.api.post("/api/appointments/", body)

    assert response.status_code == 201, response.content
    booked = response.json()
    assert (booked["patient"], booked["status"]) == (portal.own.patient, "BOOKED")
    event = Event.objects.get(tenant_id=portal.world.tenant.id, stream_id=booked["id"])
    assert event.actor_username == "ada@portal"
    reminders = Notification.all_tenants.filter(appointment_id=booked["id"])
    assert {n.channel for n in reminders} == {"email", "sms"}


def test_the_patient_cancels_its_own_appointment(portal):
    response = portal.api.post(
        f"/api/appointments/{portal.own.appointment}/cancel/", {"reason": "Cannot come"}
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "CANCELLED"


def test_the_patient_cannot_move_check_in_or_mark_its_own_appointment(portal):
    before = Event.objects.filter(tenant_id=portal.world.tenant.id).count()

    for action in ("reschedule", "no-show", "check-in"):
        url = f"/api/appointments/{portal.own.appointment}/{action}/"
        body = {"start": iso(at(MONDAY, "11:30"))} if action == "reschedule" else {}
        assert portal.api.post(url, body).status_code == 404, action
    slots = portal.api.get("/api/slots/", {"practitioner": str(portal.world.users["doctor"].id)})
    assert slots.status_code == 404
    assert Event.objects.filter(tenant_id=portal.world.tenant.id).count() == before
