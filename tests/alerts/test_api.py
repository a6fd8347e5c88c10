"""Alerts over HTTP (contract §7): the work list, acknowledging once, who may, timelines."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.encounters import services as encounters
from hm_core.events.models import Event
from tests.encounters.conftest import (
    CRITICAL_VITALS,
    NEWS2_FIVE_VITALS,
    as_vitals,
    enc_url,
    error_of,
    event_count,
    make_encounter,
    make_patient,
)


@pytest.fixture
def doctor(world):
    return world.api("doctor")


@pytest.fixture
def nurse(world):
    return world.api("nurse")


def alert_of(api, encounter) -> dict:
    (alert,) = api.get("/api/alerts/", {"encounter": str(encounter.id)}).json()["items"]
    return alert


def ack_url(alert) -> str:
    return f"/api/alerts/{alert['id']}/acknowledge/"


@pytest.fixture
def critical(world):
    return make_encounter(world, "VITALS", vitals=CRITICAL_VITALS)


def test_alert_carries_the_news2_facts(world, doctor, critical):
    alert = alert_of(doctor, critical)

    assert (alert["kind"], alert["severity"], alert["status"]) == ("news2_high", "critical", "OPEN")
    assert alert["message"] == "NEWS2 17 (high risk)"
    assert {"code": "consciousness", "value": "3", "unit": "", "flag": ""} in alert["findings"]
    assert alert["facility_id"] == str(world.main.id)
    assert alert["acknowledged_at"] is None and alert["acknowledged_by"] == ""
    assert alert["version"] == 1


def test_alert_list_filters(world, doctor):
    # given Ada with a critical and a high alert, Bob with one acknowledged critical alert
    ada, bob = make_patient(world, name="Ada"), make_patient(world, name="Bob")
    a1 = make_encounter(world, "VITALS", patient=ada, vitals=CRITICAL_VITALS)
    a2 = make_encounter(world, "VITALS", patient=ada, vitals=NEWS2_FIVE_VITALS)
    b1 = make_encounter(world, "VITALS", patient=bob, vitals=CRITICAL_VITALS)
    assert doctor.post(ack_url(alert_of(doctor, b1))).status_code == 200

    def listed(**params):
        r = doctor.get("/api/alerts/", params)
        assert r.status_code == 200, r.json()
        body = r.json()
        assert body["count"] == len(body["items"])
        return sorted((a["encounter_id"], a["severity"], a["status"]) for a in body["items"])

    # then
    a1, a2, b1 = str(a1.id), str(a2.id), str(b1.id)
    assert len(listed()) == 3
    assert listed(status="OPEN") == sorted([(a1, "critical", "OPEN"), (a2, "high", "OPEN")])
    assert listed(status="ACKNOWLEDGED") == [(b1, "critical", "ACKNOWLEDGED")]
    assert listed(patient=str(ada.id)) == sorted([(a1, "critical", "OPEN"), (a2, "high", "OPEN")])
    assert listed(encounter=a2) == [(a2, "high", "OPEN")]
    assert listed(patient=str(bob.id), status="OPEN") == []


def test_alert_list_is_newest_first_and_counts_the_total(world, doctor):
    first = make_encounter(world, "VITALS", vitals=CRITICAL_VITALS)
    second = make_encounter(world, "VITALS", vitals=NEWS2_FIVE_VITALS)

    r = doctor.get("/api/alerts/", {"limit": 1})

    assert r.json()["count"] == 2
    assert [a["encounter_id"] for a in r.json()["items"]] == [str(second.id)]
    everything = doctor.get("/api/alerts/").json()["items"]
    assert [a["encounter_id"] for a in everything] == [str(second.id), str(first.id)]


@pytest.mark.parametrize(
    ("params", "field"), [({"status": "CLOSED"}, "status"), ({"patient": "x"}, "patient")]
)
def test_alert_list_refuses_bad_filters(doctor, params, field):
    r = doctor.get("/api/alerts/", params)

    assert r.status_code == 422
    assert [d["field"] for d in error_of(r)["details"]] == [field]


def test_news2_four_without_a_red_parameter_raises_no_alert(world, doctor):
    # RR 21 (2) + SpO2 95 (1) + pulse 91 (1) = 4, every parameter below 3
    enc = make_encounter(
        world, "VITALS", vitals=NEWS2_FIVE_VITALS | {"blood_pressure_systolic": 120}
    )

    assert enc.latest_news2 == 4
    assert doctor.get("/api/alerts/").json() == {"items": [], "count": 0}


def test_every_alert_raising_vitals_raise_their_own_alert(world, doctor):
    enc = make_encounter(world, "VITALS", vitals=CRITICAL_VITALS)
    encounters.encounter_record_vitals(
        scope=world.scope("nurse"), encounter_id=enc.id, vitals=as_vitals(NEWS2_FIVE_VITALS)
    )

    r = doctor.get("/api/alerts/", {"encounter": str(enc.id)})

    assert sorted(a["severity"] for a in r.json()["items"]) == ["critical", "high"]


def _queries_of_list(api) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = api.get("/api/alerts/", {"limit": 200})
    assert r.status_code == 200
    return len(ctx.captured_queries)


def _more_alerts(world, encounter, n):
    for _ in range(n):
        encounters.encounter_record_vitals(
            scope=world.scope("nurse"), encounter_id=encounter.id, vitals=as_vitals(CRITICAL_VITALS)
        )


def test_alert_list_query_count_does_not_grow_with_the_list(world, doctor, critical):
    _more_alerts(world, critical, 2)
    small = _queries_of_list(doctor)

    _more_alerts(world, critical, 27)
    large = _queries_of_list(doctor)

    assert doctor.get("/api/alerts/").json()["count"] == 30
    assert large == small


# --- acknowledge ---------------------------------------------------------------------------


def test_a_nurse_acknowledges_with_a_note(world, nurse, critical):
    alert = alert_of(nurse, critical)

    r = nurse.post(ack_url(alert), {"note": "Doctor called, sepsis pathway started"})

    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "ACKNOWLEDGED" and r["ETag"] == '"2"' and body["version"] == 2
    assert body["acknowledged_by"] == "nurse@acme"
    assert body["acknowledged_by_id"] == str(world.users["nurse"].id)
    assert body["acknowledge_note"] == "Doctor called, sepsis pathway started"
    event = Event.objects.get(stream_id=alert["id"], type="alert.acknowledged")
    assert event.stream_type == "alert" and event.actor_username == "nurse@acme"


def test_acknowledge_twice_is_409(world, doctor, critical):
    # given
    alert = alert_of(doctor, critical)
    assert doctor.post(ack_url(alert)).status_code == 200
    before = event_count(world)

    # when
    r = doctor.post(ack_url(alert))

    # then
    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"
    assert error_of(r)["details"]["from"] == "ACKNOWLEDGED"
    assert event_count(world) == before
    assert alert_of(doctor, critical)["acknowledged_by"] == "doctor@acme"


def test_acknowledge_by_a_lab_tech_is_403(world, doctor, critical):
    alert = alert_of(doctor, critical)
    before = event_count(world)

    r = world.api("lab_tech").post(ack_url(alert))

    assert r.status_code == 403
    assert error_of(r)["code"] == "permission_denied"
    assert event_count(world) == before
    assert alert_of(doctor, critical)["status"] == "OPEN"


def test_acknowledge_with_a_stale_if_match_is_412(world, doctor, critical):
    alert = alert_of(doctor, critical)

    r = doctor.post(ack_url(alert), headers={"If-Match": '"5"'})

    assert r.status_code == 412 and error_of(r)["code"] == "version_mismatch"
    assert doctor.post(ack_url(alert), headers={"If-Match": '"1"'}).status_code == 200


def test_acknowledge_with_an_unknown_field_is_422(world, doctor, critical):
    alert = alert_of(doctor, critical)

    r = doctor.post(ack_url(alert), {"comment": "seen"})

    assert r.status_code == 422
    assert [d["field"] for d in error_of(r)["details"]] == ["comment"]


def test_acknowledge_an_unknown_alert_is_404(doctor):
    r = doctor.post("/api/alerts/7d7d7d7d-0000-4000-8000-000000000000/acknowledge/")

    assert r.status_code == 404 and error_of(r)["code"] == "not_found"


# --- timelines -----------------------------------------------------------------------------


def test_alert_is_on_the_patient_timeline(world, doctor, critical):
    # given
    alert = alert_of(doctor, critical)
    doctor.post(ack_url(alert))

    # when
    r = doctor.get(f"/api/patients/{critical.patient_id}/timeline/")

    # then
    assert r.status_code == 200, r.json()
    items = [i for i in r.json()["items"] if i["stream"]["type"] == "alert"]
    assert [i["type"] for i in items] == ["alert.raised", "alert.acknowledged"]
    assert all(i["stream"]["id"] == alert["id"] for i in items)
    assert items[0]["summary"] == "Alert raised (critical): NEWS2 17 (high risk)"
    assert items[0]["actor"]["username"] == "system"
    assert items[1]["actor"]["username"] == "doctor@acme"


def test_alert_is_on_the_encounter_timeline_after_the_vitals(world, doctor, critical):
    r = doctor.get(enc_url(critical, "timeline"))

    types = [i["type"] for i in r.json()["items"]]
    assert types.index("alert.raised") > types.index("encounter.vitals_recorded")
    raised = Event.objects.get(tenant_id=world.tenant.id, type="alert.raised")
    recorded = Event.objects.get(stream_id=critical.id, type="encounter.vitals_recorded")
    assert raised.causation_id == recorded.id


def test_alert_is_not_on_the_patient_timeline_seen_from_another_facility(world, critical):
    annex = world.api("doctor", facility=world.annex)

    r = annex.get(f"/api/patients/{critical.patient_id}/timeline/")

    assert r.status_code == 200, r.json()
    types = [i["type"] for i in r.json()["items"]]
    assert "patient.registered" in types
    assert "alert.raised" not in types and "encounter.vitals_recorded" not in types
