"""Encounters over HTTP (contract §4): create, lists, detail, transitions, close gate, vitals."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.audit.models import AuditRecord
from hm_core.encounters.models import Encounter
from hm_core.events.models import Event
from hm_core.rules.models import RuleDefinition
from hm_core.rules.selectors import CLOSE_GATE, rule_set
from tests.encounters.conftest import (
    CRITICAL_VITALS,
    NEWS2_FIVE_VITALS,
    NORMAL_VITALS,
    SCHEDULED_AT,
    enc_url,
    error_of,
    event_count,
    make_encounter,
    make_patient,
)


@pytest.fixture
def admin(world):
    return world.api("admin")


@pytest.fixture
def nurse(world):
    return world.api("nurse")


@pytest.fixture
def doctor(world):
    return world.api("doctor")


def create_body(patient, /, **changes):
    return {"patient": str(patient.id), "reason": "Cough", "scheduled_at": SCHEDULED_AT} | changes


# --- create --------------------------------------------------------------------------------


def test_encounter_create_answers_201_scheduled_with_etag(world, nurse, patient):
    r = nurse.post("/api/encounters/", create_body(patient))

    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "SCHEDULED" and body["version"] == 1 and r["ETag"] == '"1"'
    assert body["patient"] == body["patient_id"] == str(patient.id)
    assert body["facility_id"] == str(world.main.id)
    assert body["scheduled_at"].startswith("2030-01-07T09:30:00")
    assert Event.objects.filter(stream_id=body["id"], type="encounter.created").count() == 1


def test_encounter_create_stores_scheduled_at_in_utc(nurse, patient):
    r = nurse.post(
        "/api/encounters/", create_body(patient, scheduled_at="2030-01-07T11:30:00+02:00")
    )

    assert r.status_code == 201, r.json()
    assert r.json()["scheduled_at"] in ("2030-01-07T09:30:00Z", "2030-01-07T09:30:00+00:00")


def test_encounter_create_for_a_patient_of_another_tenant_is_404(world, other_world, nurse):
    # given
    stranger = make_patient(other_world)
    before = event_count(world)

    # when
    r = nurse.post("/api/encounters/", create_body(stranger))
    missing = nurse.post(
        "/api/encounters/",
        create_body(stranger, patient="7d7d7d7d-0000-4000-8000-000000000000"),
    )

    # then
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"
    assert r.json() == missing.json()
    assert event_count(world) == before


def test_encounter_create_for_an_unknown_patient_is_404(nurse, patient):
    r = nurse.post(
        "/api/encounters/",
        create_body(patient, patient="7d7d7d7d-0000-4000-8000-000000000000"),
    )

    assert r.status_code == 404 and error_of(r)["code"] == "not_found"


def test_encounter_create_refuses_naive_scheduled_at(world, nurse, patient):
    before = event_count(world)

    r = nurse.post("/api/encounters/", create_body(patient, scheduled_at="2030-01-07T09:30:00"))

    assert r.status_code == 422
    error = error_of(r)
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == ["scheduled_at"]
    assert event_count(world) == before


def test_encounter_create_refuses_unknown_fields_and_writes_nothing(world, nurse, patient):
    before = event_count(world)

    r = nurse.post("/api/encounters/", create_body(patient, status="CLOSED"))

    assert r.status_code == 422
    error = error_of(r)
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == ["status"]
    assert event_count(world) == before
    assert Encounter.all_tenants.filter(tenant_id=world.tenant.id).count() == 0


def test_encounter_create_for_a_deleted_patient_is_404(world, admin, patient):
    assert admin.delete(f"/api/patients/{patient.id}/").status_code == 204

    r = admin.post("/api/encounters/", create_body(patient))

    assert r.status_code == 404 and error_of(r)["code"] == "not_found"


def test_encounter_create_at_another_facility_of_the_tenant_is_allowed(world, patient):
    # patients are tenant-wide: registered at main, seen at the annex
    r = world.api("doctor", facility=world.annex).post("/api/encounters/", create_body(patient))

    assert r.status_code == 201, r.json()
    assert r.json()["facility_id"] == str(world.annex.id)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "cough\u0000"}, "reason"),
        ({"patient": "not-a-uuid"}, "patient"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at"),
    ],
)
def test_encounter_create_refuses_bad_values(world, nurse, patient, changes, field):
    before = event_count(world)

    r = nurse.post("/api/encounters/", create_body(patient, **changes))

    assert r.status_code == 422, r.json()
    assert [d["field"] for d in error_of(r)["details"]] == [field]
    assert event_count(world) == before


@pytest.mark.parametrize("missing", ["patient", "reason", "scheduled_at"])
def test_encounter_create_names_a_missing_field(nurse, patient, missing):
    body = create_body(patient)
    del body[missing]

    r = nurse.post("/api/encounters/", body)

    assert r.status_code == 422
    assert [d["field"] for d in error_of(r)["details"]] == [missing]


# --- list and detail -------------------------------------------------------------------------


def test_encounter_list_filters_by_patient_and_status_and_counts(world, nurse):
    # given two patients with three encounters in different states
    ada, bob = make_patient(world, name="Ada"), make_patient(world, name="Bob")
    a1 = make_encounter(world, "SCHEDULED", patient=ada)
    a2 = make_encounter(world, "CHECKED_IN", patient=ada)
    b1 = make_encounter(world, "CHECKED_IN", patient=bob)

    def ids(params):
        r = nurse.get("/api/encounters/", params)
        assert r.status_code == 200, r.json()
        body = r.json()
        assert body["count"] == len(body["items"])
        return {item["id"] for item in body["items"]}

    # then
    assert ids({}) == {str(a1.id), str(a2.id), str(b1.id)}
    assert ids({"patient": str(ada.id)}) == {str(a1.id), str(a2.id)}
    assert ids({"status": "CHECKED_IN"}) == {str(a2.id), str(b1.id)}
    assert ids({"patient": str(bob.id), "status": "CHECKED_IN"}) == {str(b1.id)}
    assert ids({"patient": str(bob.id), "status": "SCHEDULED"}) == set()


def test_encounter_list_count_is_the_total_not_the_page(world, nurse, patient):
    for _ in range(3):
        make_encounter(world, patient=patient)

    r = nurse.get("/api/encounters/", {"limit": 2})

    assert r.status_code == 200
    assert len(r.json()["items"]) == 2 and r.json()["count"] == 3


def _queries_of(api, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = api.get(path, {"limit": 200})
    assert r.status_code == 200
    return len(ctx.captured_queries)


def test_encounter_list_query_count_does_not_grow_with_the_list(world, nurse, patient):
    for _ in range(3):
        make_encounter(world, patient=patient)
    small = _queries_of(nurse, "/api/encounters/")

    for _ in range(27):
        make_encounter(world, patient=patient)
    large = _queries_of(nurse, "/api/encounters/")

    assert nurse.get("/api/encounters/").json()["count"] == 30
    assert large == small


def test_encounter_list_refuses_an_unknown_status(nurse):
    r = nurse.get("/api/encounters/", {"status": "DONE"})

    assert r.status_code == 422
    assert [d["field"] for d in error_of(r)["details"]] == ["status"]


def test_encounter_detail_has_etag_and_is_audited_as_a_read(world, nurse):
    # given
    enc = make_encounter(world, "CHECKED_IN")

    # when
    r = nurse.get(enc_url(enc))

    # then
    assert r.status_code == 200, r.json()
    assert r.json()["id"] == str(enc.id) and r.json()["status"] == "CHECKED_IN"
    assert r["ETag"] == f'"{enc.version}"' == '"2"'
    reads = AuditRecord.all_tenants.filter(
        tenant_id=world.tenant.id, kind="read", action="encounter.viewed"
    )
    assert reads.count() == 1
    read = reads.get()
    assert read.patient_id == enc.patient_id
    assert read.actor_id == world.users["nurse"].id
    assert read.actor_username == "nurse@acme"
    assert read.detail == {"encounter_id": str(enc.id)}


def test_encounter_detail_of_an_unknown_id_is_404(nurse):
    r = nurse.get(enc_url("7d7d7d7d-0000-4000-8000-000000000000"))

    assert r.status_code == 404 and error_of(r)["code"] == "not_found"


# --- transitions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "action", "body", "from_status"),
    [
        ("CHECKED_IN", "check-in", None, "CHECKED_IN"),
        ("SCHEDULED", "start-consult", None, "SCHEDULED"),
        ("SCHEDULED", "assessment", {"assessment": "URTI"}, "SCHEDULED"),
        ("CHECKED_IN", "plan", {"plan": "Rest"}, "CHECKED_IN"),
        ("CHECKED_IN", "close", None, "CHECKED_IN"),
        ("IN_CONSULT", "cancel", {"reason": "Changed mind"}, "IN_CONSULT"),
        ("CLOSED", "start-consult", None, "CLOSED"),
        ("CLOSED", "cancel", {"reason": "Changed mind"}, "CLOSED"),
        ("CANCELLED", "check-in", None, "CANCELLED"),
        ("CANCELLED", "vitals", NORMAL_VITALS, "CANCELLED"),
    ],
)
def test_illegal_transition_is_409_naming_the_state(world, admin, stage, action, body, from_status):
    # given
    enc = make_encounter(world, stage)
    before = event_count(world)

    # when
    r = admin.post(enc_url(enc, action), body)

    # then
    assert r.status_code == 409, r.json()
    error = error_of(r)
    assert error["code"] == "invalid_transition"
    assert error["details"]["from"] == from_status
    assert event_count(world) == before


def test_start_consult_assessment_and_plan_update_the_encounter(world, doctor):
    enc = make_encounter(world, "VITALS")

    r = doctor.post(enc_url(enc, "start-consult"))
    assert r.status_code == 200 and r.json()["status"] == "IN_CONSULT"
    assert r.json()["consult_started_at"] is not None
    r = doctor.post(enc_url(enc, "assessment"), {"assessment": "Viral URTI"})
    assert r.status_code == 200 and r.json()["assessment"] == "Viral URTI"
    r = doctor.post(enc_url(enc, "plan"), {"plan": "Fluids and rest"})

    assert r.status_code == 200
    assert r.json()["plan"] == "Fluids and rest"
    assert r.json()["version"] == 6 and r["ETag"] == '"6"'


# --- close gate ----------------------------------------------------------------------------


def test_encounter_close_with_nothing_recorded_names_every_missing_piece_in_rule_order(
    world, doctor
):
    # given checked in and straight into the consultation, nothing recorded
    enc = make_encounter(world, "CHECKED_IN")
    assert doctor.post(enc_url(enc, "start-consult")).status_code == 200
    before = event_count(world)

    # when
    r = doctor.post(enc_url(enc, "close"))

    # then
    assert r.status_code == 409
    error = error_of(r)
    assert error["code"] == "close_gate_failed"
    assert error["details"] == ["vitals_recorded", "assessment_recorded", "plan_recorded"]
    assert event_count(world) == before
    assert doctor.get(enc_url(enc)).json()["status"] == "IN_CONSULT"


@pytest.mark.parametrize("missing", ["vitals_recorded", "assessment_recorded", "plan_recorded"])
def test_encounter_close_fails_when_one_piece_is_missing(world, doctor, missing):
    # given a consultation with everything but `missing`
    enc = make_encounter(world, "CHECKED_IN")
    if missing != "vitals_recorded":
        assert doctor.post(enc_url(enc, "vitals"), NORMAL_VITALS).status_code == 201
    assert doctor.post(enc_url(enc, "start-consult")).status_code == 200
    if missing != "assessment_recorded":
        assert doctor.post(enc_url(enc, "assessment"), {"assessment": "URTI"}).status_code == 200
    if missing != "plan_recorded":
        assert doctor.post(enc_url(enc, "plan"), {"plan": "Rest"}).status_code == 200

    # when
    r = doctor.post(enc_url(enc, "close"))

    # then
    assert r.status_code == 409
    assert error_of(r)["code"] == "close_gate_failed"
    assert error_of(r)["details"] == [missing]


def test_encounter_close_fails_when_plan_missing(world, doctor):
    enc = make_encounter(world, "IN_CONSULT")
    doctor.post(enc_url(enc, "assessment"), {"assessment": "URTI"})

    r = doctor.post(enc_url(enc, "close"))

    assert r.status_code == 409 and error_of(r)["details"] == ["plan_recorded"]


def test_encounter_close_succeeds_when_every_rule_passes(world, doctor):
    enc = make_encounter(world, "DOCUMENTED")

    r = doctor.post(enc_url(enc, "close"))

    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "CLOSED" and r.json()["closed_at"] is not None
    assert Event.objects.filter(stream_id=enc.id, type="encounter.closed").count() == 1


def define_rule(world, code, **rule):
    """A tenant admin defines a close-gate rule through the API (an event on the chain)."""
    r = world.api("admin").put(f"/api/rules/{CLOSE_GATE}/{code}/", rule)
    assert r.status_code == 200, r.json()
    return r.json()


PLAN_RULE = {"fact": "plan_recorded", "operator": "is_true", "message": "Plan missing."}
NEWS2_RULE = {"fact": "latest_news2", "operator": "lte", "value": 4}


def test_tenant_that_disables_a_rule_can_close_without_that_piece(world, doctor):
    # given the default close gate, with plan_recorded switched off
    define_rule(world, "plan_recorded", **PLAN_RULE, enabled=False, order=30)
    enc = make_encounter(world, "IN_CONSULT")
    assert doctor.post(enc_url(enc, "assessment"), {"assessment": "URTI"}).status_code == 200

    # when
    r = doctor.post(enc_url(enc, "close"))

    # then
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "CLOSED" and r.json()["plan"] == ""


def test_a_rule_disabled_by_another_tenant_still_applies_here(world, other_world, doctor):
    define_rule(other_world, "plan_recorded", **PLAN_RULE, enabled=False)
    enc = make_encounter(world, "IN_CONSULT")
    doctor.post(enc_url(enc, "assessment"), {"assessment": "URTI"})

    r = doctor.post(enc_url(enc, "close"))

    assert r.status_code == 409 and error_of(r)["details"] == ["plan_recorded"]


def test_tenant_that_adds_a_rule_blocks_close_when_it_fails(world, doctor):
    # given the default gate plus "latest NEWS2 must be 4 or less"
    define_rule(world, "news2_low", **NEWS2_RULE, message="NEWS2 must be 4 or less.", order=50)
    enc = make_encounter(world, "DOCUMENTED", vitals=NEWS2_FIVE_VITALS)
    assert enc.latest_news2 == 5

    # when
    r = doctor.post(enc_url(enc, "close"))

    # then
    assert r.status_code == 409
    assert error_of(r) | {"message": None} == {
        "code": "close_gate_failed",
        "message": None,
        "details": ["news2_low"],
    }


def test_an_added_rule_that_passes_lets_close_through(world, doctor):
    define_rule(world, "news2_low", **NEWS2_RULE, order=50)
    enc = make_encounter(world, "DOCUMENTED", vitals=NORMAL_VITALS)

    r = doctor.post(enc_url(enc, "close"))

    assert r.status_code == 200, r.json()


def test_closing_reads_the_default_rules_and_writes_none(world, doctor):
    enc = make_encounter(world, "DOCUMENTED")

    assert doctor.post(enc_url(enc, "close")).status_code == 200

    assert not RuleDefinition.objects.filter(tenant_id=world.tenant.id).exists()
    assert [r.code for r in rule_set(tenant_id=world.tenant.id, name=CLOSE_GATE)] == [
        "vitals_recorded",
        "assessment_recorded",
        "plan_recorded",
        "no_unacknowledged_critical_alert",
    ]


def test_close_gate_failures_follow_the_tenants_rule_order(world, doctor):
    # given the plan rule moved first and a NEWS2 rule added before everything
    define_rule(world, "plan_recorded", **PLAN_RULE, order=2)
    define_rule(world, "news2_low", **NEWS2_RULE, order=1)
    enc = make_encounter(world, "CHECKED_IN")
    doctor.post(enc_url(enc, "start-consult"))

    # when nothing is recorded (no NEWS2 either: a comparison with nothing fails)
    r = doctor.post(enc_url(enc, "close"))

    # then
    assert r.status_code == 409
    assert error_of(r)["details"] == [
        "news2_low",
        "plan_recorded",
        "vitals_recorded",
        "assessment_recorded",
    ]


def test_a_rule_over_an_unknown_fact_blocks_close(world, doctor):
    # a mistyped rule that reached the table some other way must block rather than silently pass
    RuleDefinition.objects.create(
        tenant_id=world.tenant.id,
        rule_set=CLOSE_GATE,
        code="bmi_recorded",
        fact="bmi_recoded",
        operator="is_true",
    )
    enc = make_encounter(world, "DOCUMENTED")

    r = doctor.post(enc_url(enc, "close"))

    assert r.status_code == 409 and error_of(r)["details"] == ["bmi_recorded"]


# --- If-Match ------------------------------------------------------------------------------


def test_stale_if_match_is_412_and_writes_nothing(world, nurse):
    enc = make_encounter(world, "SCHEDULED")
    before = event_count(world)

    r = nurse.post(enc_url(enc, "check-in"), headers={"If-Match": '"7"'})

    assert r.status_code == 412
    assert error_of(r)["code"] == "version_mismatch"
    assert event_count(world) == before
    assert nurse.get(enc_url(enc)).json()["status"] == "SCHEDULED"


def test_if_match_with_the_current_version_is_accepted(world, doctor):
    enc = make_encounter(world, "VITALS")
    etag = doctor.get(enc_url(enc))["ETag"]
    assert etag == f'"{enc.version}"'

    r = doctor.post(enc_url(enc, "start-consult"), headers={"If-Match": etag})

    assert r.status_code == 200, r.json()
    assert r["ETag"] == f'"{enc.version + 1}"'


def test_if_match_of_the_previous_version_after_a_change_is_412(world, doctor):
    enc = make_encounter(world, "IN_CONSULT")
    old = f'"{enc.version}"'
    assert doctor.post(enc_url(enc, "assessment"), {"assessment": "A"}).status_code == 200

    r = doctor.post(enc_url(enc, "plan"), {"plan": "P"}, headers={"If-Match": old})

    assert r.status_code == 412 and error_of(r)["code"] == "version_mismatch"


@pytest.mark.parametrize("garbage", ["abc", '"v1"', "1.0", '"-1"', '"1", "2"', ""])
def test_garbage_if_match_is_412(world, nurse, garbage):
    enc = make_encounter(world, "SCHEDULED")
    before = event_count(world)

    r = nurse.post(enc_url(enc, "check-in"), headers={"If-Match": garbage})

    assert r.status_code == 412, r.json()
    assert error_of(r)["code"] == "version_mismatch"
    assert event_count(world) == before


@pytest.mark.parametrize("unbalanced", ['"1', '1"'])
def test_if_match_with_an_unbalanced_quote_is_412(world, nurse, unbalanced):
    enc = make_encounter(world, "SCHEDULED")
    before = event_count(world)

    r = nurse.post(enc_url(enc, "check-in"), headers={"If-Match": unbalanced})

    assert r.status_code == 412, r.json()
    assert error_of(r)["code"] == "version_mismatch"
    assert event_count(world) == before


def test_if_match_applies_to_vitals_too(world, nurse):
    enc = make_encounter(world, "CHECKED_IN")

    r = nurse.post(enc_url(enc, "vitals"), NORMAL_VITALS, headers={"If-Match": '"1"'})

    assert r.status_code == 412 and error_of(r)["code"] == "version_mismatch"


# --- vitals --------------------------------------------------------------------------------


def test_vitals_are_recorded_with_their_news2_score(world, nurse):
    enc = make_encounter(world, "CHECKED_IN")

    r = nurse.post(enc_url(enc, "vitals"), NORMAL_VITALS)

    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["encounter"] == str(enc.id)
    assert body["temperature_unit"] == "F" and body["consciousness"] == "A"
    assert body["supplemental_oxygen"] is False
    assert body["news2"]["total"] == 0 and body["news2"]["complete"] is True
    assert body["recorded_by"] == "nurse@acme"
    detail = nurse.get(enc_url(enc)).json()
    assert detail["vitals_count"] == 1 and detail["latest_news2"] == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"spo2": 101}, "spo2"),
        ({"pulse": 10}, "pulse"),
        (
            {"blood_pressure_systolic": 80, "blood_pressure_diastolic": 80},
            "blood_pressure_diastolic",
        ),
        (
            {"blood_pressure_systolic": 70, "blood_pressure_diastolic": 90},
            "blood_pressure_diastolic",
        ),
        ({"temperature": 120, "temperature_unit": "F"}, "temperature"),
        ({"respiratory_rate": 0}, "respiratory_rate"),
    ],
)
def test_impossible_vitals_are_422_naming_the_field_and_write_nothing(world, nurse, changes, field):
    enc = make_encounter(world, "CHECKED_IN")
    before = event_count(world)

    r = nurse.post(enc_url(enc, "vitals"), NORMAL_VITALS | changes)

    assert r.status_code == 422, r.json()
    error = error_of(r)
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == [field]
    assert all(d["message"] for d in error["details"])
    assert event_count(world) == before
    assert nurse.get(enc_url(enc)).json()["vitals_count"] == 0


def test_every_impossible_vital_is_named_at_once(world, nurse):
    enc = make_encounter(world, "CHECKED_IN")
    before = event_count(world)
    body = NORMAL_VITALS | {
        "spo2": 101,
        "pulse": 10,
        "blood_pressure_systolic": 80,
        "blood_pressure_diastolic": 90,
        "temperature": 120,
    }

    r = nurse.post(enc_url(enc, "vitals"), body)

    assert r.status_code == 422
    assert {d["field"] for d in error_of(r)["details"]} == {
        "spo2",
        "pulse",
        "blood_pressure_diastolic",
        "temperature",
    }
    assert event_count(world) == before


def test_vitals_with_an_unknown_field_are_422(world, nurse):
    enc = make_encounter(world, "CHECKED_IN")
    before = event_count(world)

    r = nurse.post(enc_url(enc, "vitals"), NORMAL_VITALS | {"weight": 70})

    assert r.status_code == 422
    assert [d["field"] for d in error_of(r)["details"]] == ["weight"]
    assert event_count(world) == before


def test_vitals_on_a_scheduled_encounter_are_409(world, nurse):
    enc = make_encounter(world, "SCHEDULED")
    before = event_count(world)

    r = nurse.post(enc_url(enc, "vitals"), NORMAL_VITALS)

    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"
    assert error_of(r)["details"]["from"] == "SCHEDULED"
    assert event_count(world) == before


def test_vitals_may_be_repeated_during_the_consultation(world, doctor):
    enc = make_encounter(world, "IN_CONSULT")

    r = doctor.post(enc_url(enc, "vitals"), NORMAL_VITALS | {"pulse": 95})

    assert r.status_code == 201, r.json()
    assert doctor.get(enc_url(enc)).json()["vitals_count"] == 2


# --- NEWS2 alerts and the close gate -------------------------------------------------------


def test_news2_critical_raises_an_alert_that_blocks_close_until_acknowledged(world, nurse, doctor):
    # given a consultation whose vitals score NEWS2 17
    enc = make_encounter(world, "CHECKED_IN")
    r = nurse.post(enc_url(enc, "vitals"), CRITICAL_VITALS)
    assert r.status_code == 201, r.json()
    assert r.json()["news2"]["total"] == 17 and r.json()["news2"]["risk"] == "high"

    # then an open critical alert is on the work list and on the encounter timeline
    r = doctor.get("/api/alerts/", {"status": "OPEN"})
    assert r.status_code == 200 and r.json()["count"] == 1
    alert = r.json()["items"][0]
    assert alert["kind"] == "news2_high" and alert["severity"] == "critical"
    assert alert["status"] == "OPEN" and alert["encounter_id"] == str(enc.id)
    assert alert["patient_id"] == str(enc.patient_id)
    timeline = doctor.get(enc_url(enc, "timeline")).json()["items"]
    raised = [i for i in timeline if i["type"] == "alert.raised"]
    assert len(raised) == 1
    assert raised[0]["stream"] == {"type": "alert", "id": alert["id"]}

    # and close is blocked by the unacknowledged critical alert alone
    doctor.post(enc_url(enc, "start-consult"))
    doctor.post(enc_url(enc, "assessment"), {"assessment": "Sepsis?"})
    doctor.post(enc_url(enc, "plan"), {"plan": "Admit"})
    r = doctor.post(enc_url(enc, "close"))
    assert r.status_code == 409
    assert error_of(r)["code"] == "close_gate_failed"
    assert error_of(r)["details"] == ["no_unacknowledged_critical_alert"]

    # when the doctor acknowledges the alert
    r = doctor.post(f"/api/alerts/{alert['id']}/acknowledge/")
    assert r.status_code == 200, r.json()
    acked = r.json()
    assert acked["status"] == "ACKNOWLEDGED" and acked["acknowledged_at"] is not None
    assert acked["acknowledged_by"] == "doctor@acme"
    assert acked["acknowledged_by_id"] == str(world.users["doctor"].id)

    # then close succeeds
    assert doctor.get("/api/alerts/", {"status": "OPEN"}).json()["count"] == 0
    r = doctor.post(enc_url(enc, "close"))
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "CLOSED"


def test_news2_five_raises_a_high_alert_that_does_not_block_close(world, doctor):
    # given
    enc = make_encounter(world, "DOCUMENTED", vitals=NEWS2_FIVE_VITALS)

    # then
    r = doctor.get("/api/alerts/", {"status": "OPEN", "encounter": str(enc.id)})
    assert [(a["kind"], a["severity"]) for a in r.json()["items"]] == [("news2_high", "high")]
    r = doctor.post(enc_url(enc, "close"))
    assert r.status_code == 200, r.json()
    assert doctor.get(enc_url(enc)).json()["latest_news2"] == 5


def test_a_single_red_parameter_raises_a_high_alert_that_does_not_block_close(world, doctor):
    # given NEWS2 3, all of it from consciousness "V"
    enc = make_encounter(world, "DOCUMENTED", vitals=NORMAL_VITALS | {"consciousness": "V"})

    # then
    (alert,) = doctor.get("/api/alerts/", {"encounter": str(enc.id)}).json()["items"]
    assert (alert["severity"], alert["message"]) == ("high", "NEWS2 3 (low-medium risk)")
    assert doctor.post(enc_url(enc, "close")).status_code == 200


def test_normal_vitals_raise_no_alert(world, doctor):
    make_encounter(world, "VITALS")

    assert doctor.get("/api/alerts/").json() == {"items": [], "count": 0}


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_a_scheduled_encounter(world, nurse):
    enc = make_encounter(world, "SCHEDULED")

    r = nurse.post(enc_url(enc, "cancel"), {"reason": "Patient called off"})

    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "CANCELLED" and body["cancel_reason"] == "Patient called off"
    assert body["cancelled_at"] is not None
    event = Event.objects.get(stream_id=enc.id, type="encounter.cancelled")
    assert event.payload["from_status"] == "SCHEDULED"


def test_cancel_a_checked_in_encounter_cancels_its_open_tasks(world, nurse):
    # given a checked-in visit with its open vitals task
    enc = make_encounter(world, "CHECKED_IN")
    tasks = nurse.get("/api/tasks/", {"encounter": str(enc.id)}).json()["items"]
    assert [(t["kind"], t["status"]) for t in tasks] == [("record_vitals", "OPEN")]

    # when
    r = nurse.post(enc_url(enc, "cancel"), {"reason": "Left before triage"})

    # then
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    tasks = nurse.get("/api/tasks/", {"encounter": str(enc.id)}).json()["items"]
    assert [(t["kind"], t["status"]) for t in tasks] == [("record_vitals", "CANCELLED")]


def test_cancel_during_the_consultation_is_409(world, nurse):
    enc = make_encounter(world, "IN_CONSULT")
    before = event_count(world)

    r = nurse.post(enc_url(enc, "cancel"), {"reason": "Too late"})

    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"
    assert error_of(r)["details"]["from"] == "IN_CONSULT"
    assert event_count(world) == before


def test_cancel_needs_a_reason(world, nurse):
    enc = make_encounter(world, "SCHEDULED")

    r = nurse.post(enc_url(enc, "cancel"), {})

    assert r.status_code == 422
    assert [d["field"] for d in error_of(r)["details"]] == ["reason"]


# --- timeline --------------------------------------------------------------------------------


def test_encounter_timeline_lists_the_visit_and_is_audited(world, doctor):
    enc = make_encounter(world, "CHECKED_IN")

    r = doctor.get(enc_url(enc, "timeline"))

    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["type"] for i in items] == [
        "encounter.created",
        "encounter.checked_in",
        "task.created",
    ]
    assert items[2]["actor"]["username"] == "system"
    assert AuditRecord.all_tenants.filter(
        tenant_id=world.tenant.id, action="encounter.timeline_viewed", patient_id=enc.patient_id
    ).exists()
