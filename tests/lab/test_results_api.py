"""Lab results over HTTP (contract §7): entry rules, four-eyes verification, release,
append-only corrections, payload validation with nothing written, If-Match, audited reads."""

from __future__ import annotations

import pytest

from hm_core.audit.models import AuditRecord
from hm_core.common.scope import scope_active
from hm_core.events.models import Event
from hm_core.lab.models import ImmutableVersionError, LabResult, LabResultVersion
from tests.encounters.conftest import event_count, make_encounter
from tests.lab.conftest import (
    K_NORMAL,
    enter,
    error_of,
    item_of,
    normal_payload,
    place_order,
    receive,
    samples_of,
)


@pytest.fixture
def doctor(lab_world):
    return lab_world.api("doctor")


@pytest.fixture
def tech(lab_world):
    return lab_world.api("lab_tech")


@pytest.fixture
def tech2(lab_world):
    return lab_world.api("lab_tech2")


@pytest.fixture
def encounter(lab_world):
    return make_encounter(lab_world, "CHECKED_IN")


@pytest.fixture
def received_order(doctor, tech, encounter) -> dict:
    """A K + CBC order whose samples (serum, whole blood) are both received."""
    order = place_order(doctor, encounter, "K", "CBC")
    for sample in samples_of(tech, order):
        receive(tech, sample)
    return order


def entered(tech, order, code="K", payload=None) -> dict:
    r = enter(tech, item_of(order, code)["id"], payload or K_NORMAL)
    assert r.status_code == 201, r.json()
    return r.json()


def released(tech, tech2, order, code="K", payload=None) -> dict:
    result = entered(tech, order, code, payload)
    assert tech2.post(f"/api/lab/results/{result['id']}/verify/").status_code == 200
    r = tech.post(f"/api/lab/results/{result['id']}/release/")
    assert r.status_code == 200, r.json()
    return r.json()


def url(result, action="") -> str:
    return f"/api/lab/results/{result['id']}/" + (f"{action}/" if action else "")


# --- entry --------------------------------------------------------------------------------------


def test_entry_answers_201_with_the_result_and_its_etag(lab_world, tech, received_order):
    r = enter(tech, item_of(received_order, "K")["id"], {"K": {"value": 4.2, "unit": "mmol/L"}})
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["status"], body["version"], body["versions"], body["supersedes"]) == (
        "ENTERED",
        1,
        1,
        None,
    )
    assert r["ETag"] == '"1"' and body["entered_by"] == "lab_tech@acme"
    assert body["order_item_id"] == item_of(received_order, "K")["id"]
    (event,) = Event.objects.filter(stream_id=body["id"])
    assert (event.type, event.stream_type) == ("lab.result_entered", "lab_result")
    assert event.payload["values"][0]["value"] == "4.2"


def test_entry_needs_a_received_sample(lab_world, doctor, tech, encounter):
    order = place_order(doctor, encounter, "K")
    before = event_count(lab_world)
    r = enter(tech, item_of(order, "K")["id"], K_NORMAL)
    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"
    assert error_of(r)["details"]["from"] == "PENDING"
    assert event_count(lab_world) == before


def test_an_item_takes_one_result(tech, received_order):
    first = entered(tech, received_order)
    r = enter(tech, item_of(received_order, "K")["id"], K_NORMAL)
    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"
    assert error_of(r)["details"]["result_id"] == first["id"]


def test_a_cancelled_item_takes_no_result(doctor, tech, received_order):
    assert doctor.post(f"/api/orders/{received_order['id']}/cancel/").status_code == 200
    r = enter(tech, item_of(received_order, "K")["id"], K_NORMAL)
    assert r.status_code == 409
    assert error_of(r)["details"]["from"] == "CANCELLED"


def test_an_item_of_a_non_lab_order_is_not_found(lab_world, doctor, tech, encounter):
    order = place_order(doctor, encounter, "CXR", order_type="IMAGING")
    r = enter(tech, order["items"][0]["id"], K_NORMAL)
    assert r.status_code == 404
    assert error_of(r)["details"] == {"resource": "order_item"}


@pytest.mark.parametrize(
    ("code", "payload", "field", "fragment"),
    [
        ("K", {"analytes": [{"code": "XYZ", "value": 4, "unit": "mmol/L"}]}, "code", "XYZ"),
        ("K", {"value": 4.2}, "result_payload.unit", "required"),
        ("K", {"value": 4.2, "unit": "mg/dL"}, "result_payload.unit", "mmol/L"),
        ("CBC", {"HB": {"value": 14, "unit": "g/dL"}}, "result_payload", "WBC, PLT, HCT"),
        ("K", {"value": 4.2, "unit": "mmol/L", "flag": ""}, "result_payload.flag", "unknown"),
        ("K", {"value": None, "unit": "mmol/L"}, "result_payload.value", "required"),
        ("CBC", {"value": 14, "unit": "g/dL"}, "result_payload", "several analytes"),
    ],
)
def test_bad_payloads_are_422_and_nothing_is_written(
    lab_world, tech, received_order, code, payload, field, fragment
):
    # given
    before = event_count(lab_world)
    # when
    r = enter(tech, item_of(received_order, code)["id"], payload)
    # then
    assert r.status_code == 422, r.json()
    err = error_of(r)
    assert err["code"] == "validation_error"
    assert any(field in d["field"] and fragment in d["message"] for d in err["details"]), err
    assert event_count(lab_world) == before
    with scope_active(lab_world.scope()):
        assert not LabResult.objects.for_scope(lab_world.scope()).exists()
    assert not LabResultVersion.all_tenants.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"result_payload": {"value": 4}, "is_critical": False, "extra": 1},
        {"result_payload": "4.2"},
        {"is_critical": False},
    ],
)
def test_unknown_or_missing_fields_of_the_body_are_422(lab_world, tech, received_order, body):
    before = event_count(lab_world)
    r = tech.post(
        "/api/lab/results/", {"order_item_id": item_of(received_order, "K")["id"], **body}
    )
    assert r.status_code == 422 and error_of(r)["code"] == "validation_error"
    assert event_count(lab_world) == before


# --- verification and release -------------------------------------------------------------------


def test_the_person_who_entered_a_result_cannot_verify_it(lab_world, tech, received_order):
    result = entered(tech, received_order)
    before = event_count(lab_world)
    r = tech.post(url(result, "verify"))
    assert r.status_code == 403
    assert error_of(r)["code"] == "same_user_verification"
    assert event_count(lab_world) == before
    assert tech.get(url(result)).json()["status"] == "ENTERED"


def test_a_nurse_cannot_verify(lab_world, tech, received_order):
    result = entered(tech, received_order)
    r = lab_world.api("nurse").post(url(result, "verify"))
    assert r.status_code == 403
    assert error_of(r)["code"] == "permission_denied"
    assert error_of(r)["details"] == {"permission": "results.verify"}


def test_only_a_verified_result_is_released_and_only_an_entered_one_verified(
    tech, tech2, received_order
):
    result = entered(tech, received_order)
    r = tech.post(url(result, "release"))
    assert r.status_code == 409 and error_of(r)["details"]["from"] == "ENTERED"
    assert tech2.post(url(result, "verify")).status_code == 200
    r = tech2.post(url(result, "verify"))
    assert r.status_code == 409 and error_of(r)["details"]["from"] == "VERIFIED"
    r = tech.post(url(result, "correct"), {"result_payload": K_NORMAL, "reason": "x"})
    assert r.status_code == 409 and error_of(r)["details"]["from"] == "VERIFIED"
    r = tech.post(url(result, "release"))
    assert r.status_code == 200
    assert (r.json()["released_by"], r.json()["verified_by"]) == ("lab_tech@acme", "lab_tech2@acme")
    r = tech.post(url(result, "release"))
    assert r.status_code == 409 and error_of(r)["details"]["from"] == "RELEASED"


@pytest.mark.parametrize("action", ["verify", "release", "correct"])
def test_every_transition_checks_if_match(lab_world, tech, tech2, received_order, action):
    result = entered(tech, received_order)
    if action != "verify":
        assert tech2.post(url(result, "verify")).status_code == 200
    if action == "correct":
        assert tech.post(url(result, "release")).status_code == 200
    current = tech.get(url(result))["ETag"]
    body = {"result_payload": K_NORMAL, "reason": "recheck"} if action == "correct" else {}
    actor = tech2 if action == "verify" else tech
    before = event_count(lab_world)

    r = actor.post(url(result, action), body, headers={"If-Match": '"99"'})

    assert r.status_code == 412
    assert error_of(r)["code"] == "version_mismatch"
    assert event_count(lab_world) == before
    r = actor.post(url(result, action), body, headers={"If-Match": current})
    assert r.status_code in (200, 201), r.json()


# --- corrections --------------------------------------------------------------------------------


def test_a_correction_appends_a_version_and_keeps_the_old_one_unchanged(
    doctor, tech, tech2, encounter, received_order
):
    # given a released potassium and its versions as first read
    result = released(tech, tech2, received_order)
    before = doctor.get(url(result, "versions")).json()
    assert before["count"] == 1

    # when the lab corrects it
    r = tech.post(
        url(result, "correct"),
        {
            "result_payload": {"value": "5.6", "unit": "mmol/L", "comment": "re-run"},
            "reason": "Analyser drift",
        },
        headers={"If-Match": '"3"'},
    )

    # then a new CORRECTED version supersedes version 1
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["status"], body["versions"], body["supersedes"], body["version"]) == (
        "CORRECTED",
        2,
        1,
        4,
    )
    assert (body["reason"], body["comment"]) == ("Analyser drift", "re-run")
    assert body["values"][0]["value"] == "5.6" and body["values"][0]["flag"] == "H"
    assert r["ETag"] == '"4"'
    # and the old version is still readable, unchanged
    versions = doctor.get(url(result, "versions")).json()
    assert versions["count"] == 2
    assert versions["items"][0] == before["items"][0]
    assert versions["items"][0]["values"][0]["value"] == "4.2"
    assert (versions["items"][1]["version"], versions["items"][1]["supersedes"]) == (2, 1)
    assert versions["items"][1]["status"] == "CORRECTED"
    current = doctor.get(url(result)).json()
    assert (current["versions"], current["values"][0]["value"]) == (2, "5.6")

    # when corrected again, the next version supersedes the previous correction
    r = tech.post(url(result, "correct"), {"result_payload": K_NORMAL, "reason": "Back to 4.2"})
    assert r.status_code == 201
    assert (r.json()["versions"], r.json()["supersedes"]) == (3, 2)

    # then the encounter timeline shows the release and both corrections
    timeline = doctor.get(f"/api/encounters/{encounter.id}/timeline/", {"limit": 200}).json()
    types = [item["type"] for item in timeline["items"]]
    assert types.count("lab.result_released") == 1 and types.count("lab.result_corrected") == 2
    corrected = next(i for i in timeline["items"] if i["type"] == "lab.result_corrected")
    assert corrected["summary"] == "Result corrected (v1 → v2): K K 5.6 mmol/L H — Analyser drift"


def test_a_correction_needs_a_reason_and_a_valid_payload(lab_world, tech, tech2, received_order):
    result = released(tech, tech2, received_order)
    before = event_count(lab_world)
    for body in (
        {"result_payload": K_NORMAL},
        {"result_payload": K_NORMAL, "reason": ""},
        {"result_payload": {"value": 4, "unit": "mg/dL"}, "reason": "x"},
    ):
        r = tech.post(url(result, "correct"), body)
        assert r.status_code == 422, (body, r.json())
    assert event_count(lab_world) == before


def test_result_versions_are_immutable_rows(lab_world, tech, received_order):
    result = entered(tech, received_order)
    scope = lab_world.scope()
    with scope_active(scope):
        version = LabResultVersion.objects.for_scope(scope).get(result_id=result["id"])
        version.values = [{"code": "K", "value": "9.9"}]
        with pytest.raises(ImmutableVersionError):
            version.save()
        with pytest.raises(ImmutableVersionError):
            version.delete()
        with pytest.raises(ImmutableVersionError):
            LabResultVersion.objects.for_scope(scope).update(values=[])
        with pytest.raises(ImmutableVersionError):
            LabResultVersion.all_tenants.filter(result_id=result["id"]).update(values=[])
    assert LabResultVersion.all_tenants.get(result_id=result["id"]).values[0]["value"] == "4.2"


# --- reads --------------------------------------------------------------------------------------


def test_reads_are_audited_as_phi(lab_world, doctor, tech, tech2, encounter, received_order):
    result = released(tech, tech2, received_order)
    released(tech, tech2, received_order, "CBC", normal_payload(lab_world, "CBC"))
    earlier = set(AuditRecord.all_tenants.values_list("id", flat=True))

    assert doctor.get(url(result)).status_code == 200
    assert doctor.get(url(result, "versions")).status_code == 200
    page = doctor.get("/api/lab/results/", {"encounter": str(encounter.id)})
    assert page.status_code == 200 and page.json()["count"] == 2

    reads = (
        AuditRecord.all_tenants.filter(kind=AuditRecord.Kind.READ)
        .exclude(id__in=earlier)
        .order_by("occurred_at")
    )
    assert [(r.action, r.patient_id, r.actor_username) for r in reads] == [
        ("lab_result.viewed", encounter.patient_id, "doctor@acme"),
        ("lab_result.versions_viewed", encounter.patient_id, "doctor@acme"),
        ("lab_result.listed", encounter.patient_id, "doctor@acme"),
    ]
    assert len(reads[2].detail["result_ids"]) == 2


def test_results_list_filters(lab_world, doctor, tech, tech2, encounter, received_order):
    released(tech, tech2, received_order)
    entered(tech, received_order, "CBC", normal_payload(lab_world, "CBC"))
    other = make_encounter(lab_world, "CHECKED_IN")
    place_order(doctor, other, "K")

    def codes(**params) -> list[str]:
        r = doctor.get("/api/lab/results/", params)
        assert r.status_code == 200, r.json()
        return [x["service_code"] for x in r.json()["items"]]

    assert codes(encounter=str(encounter.id)) == ["K", "CBC"]
    assert codes(encounter=str(other.id)) == []
    assert codes(status="ENTERED") == ["CBC"]
    assert codes(order=received_order["id"], status="RELEASED") == ["K"]
    assert doctor.get("/api/lab/results/", {"status": "DONE"}).status_code == 422
