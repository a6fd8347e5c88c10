"""`alert.raised` v1 payloads (untyped `data`) upcast to v2's typed fields."""

from __future__ import annotations

import uuid

from hm_core.alerts.events import AlertFinding, AlertRaised

ALERT, ENCOUNTER, PATIENT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _v1(kind: str, data: dict[str, object]) -> dict[str, object]:
    return {
        "alert_id": str(ALERT),
        "encounter_id": str(ENCOUNTER),
        "patient_id": str(PATIENT),
        "kind": kind,
        "severity": "critical",
        "message": "m",
        "data": data,
    }


def test_alert_raised_v1_critical_result_upcasts_to_typed_fields() -> None:
    # given a v1 critical-result payload as the alerts policy stored it
    result, doctor = uuid.uuid4(), uuid.uuid4()
    value = {"code": "K", "value": "7.1", "unit": "mmol/L", "flag": "HH", "reference_range": ""}
    data = {
        "result_id": str(result),
        "result_version": 2,
        "order_id": str(uuid.uuid4()),
        "values": [value],
        "ordered_by_id": str(doctor),
        "ordered_by": "doctor",
    }
    # when it is read back
    event = AlertRaised.from_payload(_v1("critical_result", data), 1)
    # then the facts are typed fields
    assert isinstance(event, AlertRaised)
    assert (event.source_type, event.source_id, event.source_version) == ("lab_result", result, 2)
    assert (event.assignee_id, event.assignee) == (doctor, "doctor")
    assert event.findings == [AlertFinding(code="K", value="7.1", unit="mmol/L", flag="HH")]


def test_alert_raised_v1_news2_upcasts_parameters_to_findings() -> None:
    # given a v1 NEWS2 payload
    vitals = uuid.uuid4()
    data = {"vitals_id": str(vitals), "news2_parameters": {"consciousness": 3, "pulse": 0}}
    # when it is read back
    event = AlertRaised.from_payload(_v1("news2_high", data), 1)
    # then the parameters are findings and nobody is assigned
    assert isinstance(event, AlertRaised)
    assert (event.source_type, event.source_id, event.source_version) == ("vitals", vitals, None)
    assert (event.assignee_id, event.assignee) == (None, "")
    assert [(f.code, f.value) for f in event.findings] == [("consciousness", "3"), ("pulse", "0")]


def test_alert_raised_v1_sample_rejected_upcasts_without_findings() -> None:
    sample = uuid.uuid4()
    data = {"sample_id": str(sample), "order_id": str(uuid.uuid4()), "reason": "Haemolysed"}
    event = AlertRaised.from_payload(_v1("sample_rejected", data), 1)
    assert isinstance(event, AlertRaised)
    assert (event.source_type, event.source_id, event.findings) == ("lab_sample", sample, [])
