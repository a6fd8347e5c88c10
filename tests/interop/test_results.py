"""ORU^R01 over `POST /api/interop/hl7/` (contract §11): final, preliminary and corrected results
through the lab commands, with the same flags, alerts, tasks and close gate as results entered
by hand (compare tests/lab/test_critical.py)."""

from __future__ import annotations

from typing import Any

from hm_core.common.scope import scope_active
from hm_core.interop.models import Message
from hm_core.lab.models import LabResult, Sample
from hm_core.orders.services import order_place
from tests.encounters.conftest import enc_url, make_encounter
from tests.interop.conftest import er7, hl7_fixture
from tests.interop.lab_helpers import (
    add_service,
    err,
    event_count,
    msa,
    open_encounter,
    patient_with_mrn,
    post,
    seed,
)
from tests.lab.conftest import error_of, lab_tasks, place_order

MSH_ORU = "MSH|^~\\&|LIS|REFLAB|HM|HOSP|20260102030405||ORU^R01|{control_id}|P|2.5.1"


def oru(control_id: str, placer: str, *obx: str, mrn: str = "", code: str = "K") -> bytes:
    pid = [f"PID|1||{mrn}^^^HOSP^MR"] if mrn else []
    return er7(MSH_ORU.format(control_id=control_id), *pid, f"OBR|1|{placer}||{code}", *obx)


def k_obx(value: str, status: str = "F", flag: str = "") -> str:
    return f"OBX|1|NM|2823-3^Potassium^LN||{value}|mmol/L|3.5-5.1|{flag}|||{status}|||||^SMITH^JO"


def results(world) -> list[LabResult]:
    scope = world.scope("admin")
    with scope_active(scope):
        return list(LabResult.objects.for_scope(scope).order_by("created_at"))


def lab_order(world, mrn: str, placer: str, *codes: str) -> Any:
    enc = open_encounter(world, mrn)
    return enc, order_place(
        scope=world.scope("doctor"),
        encounter_id=enc.id,
        order_type="LAB",
        priority="ROUTINE",
        service_codes=list(codes),
        placer_order_number=placer,
    )


def test_critical_potassium_final_is_released_alerted_and_gates_the_close(world):
    # given a potassium ordered by the doctor on a visit ready to close, never received here
    seed(world)
    doctor = world.api("doctor")
    enc = make_encounter(world, "DOCUMENTED")
    order = place_order(doctor, enc, "K")
    placer = order["placer_order_number"]
    assert placer.startswith("HM") and len(placer) == 12

    # when the outside laboratory sends a final 7.1 mmol/L (it flags it H only)
    _, ack = post(world, oru("K1", placer, k_obx("7.1", flag="H")))

    # then AA, and the result is released, critical, verified by that laboratory
    assert msa(ack) == "AA", str(ack)
    (result,) = results(world)
    assert (result.status, result.is_critical, result.versions) == ("RELEASED", True, 1)
    assert result.values == [
        {"code": "K", "value": "7.1", "unit": "mmol/L", "flag": "HH", "reference_range": "3.5-5.1"}
    ]
    assert result.verified_by == "JO SMITH, REFLAB" and result.verified_by_id is None
    # the sample was received implicitly, by the interface, under an external barcode
    scope = world.scope("admin")
    with scope_active(scope):
        (sample,) = Sample.objects.for_scope(scope)
    assert sample.status == "RECEIVED" and sample.barcode.startswith("EXT-")
    # an open critical alert for the ordering doctor, and their acknowledgement task
    alerts = doctor.get("/api/alerts/", {"encounter": str(enc.id), "status": "OPEN"}).json()
    (alert,) = alerts["items"]
    assert alert["message"] == "Critical K result: K 7.1 mmol/L HH"
    assert alert["assignee_id"] == str(world.users["doctor"].id)
    tasks = doctor.get("/api/tasks/", {"assignee": "me", "status": "OPEN"}).json()["items"]
    assert [(t["kind"], t["subject_id"]) for t in tasks] == [
        ("acknowledge_critical_result", alert["id"])
    ]
    # the lab workflow's tasks all ended as if the work had been done here
    assert {(kind, status) for kind, _, status, _ in lab_tasks(doctor, enc.id)} == {
        ("collect_sample", "DONE"),
        ("enter_result", "DONE"),
        ("verify_result", "DONE"),
        ("acknowledge_critical_result", "OPEN"),
    }
    # timeline entries for receipt, entry, verification and release
    timeline = doctor.get(f"/api/encounters/{enc.id}/timeline/", {"limit": 200}).json()["items"]
    kinds = [entry["type"] for entry in timeline]
    for event_type in ("sample_received", "result_entered", "result_verified", "result_released"):
        assert f"lab.{event_type}" in kinds, kinds
    (verified,) = [e for e in timeline if e["type"] == "lab.result_verified"]
    assert (
        verified["summary"] == "Result verified by the reporting laboratory (JO SMITH, REFLAB): K"
    )
    # and the visit cannot close until the alert is acknowledged
    r = doctor.post(enc_url(enc, "close"))
    assert r.status_code == 409 and error_of(r)["code"] == "close_gate_failed"


def test_preliminary_then_correction(world):
    seed(world)
    lab_order(world, "MRN-1", "P-1", "K")
    # a preliminary result is entered only
    assert msa(post(world, oru("C1", "P-1", k_obx("4.2", status="P"), mrn="MRN-1"))[1]) == "AA"
    (result,) = results(world)
    assert (result.status, result.entered_by) == ("ENTERED", "integration@acme")
    # a correction before release is refused (409 invalid_transition → AE 207)
    _, ack = post(world, oru("C2", "P-1", k_obx("4.4", status="C")))
    assert msa(ack) == "AE" and err(ack) == ("207", "OBR^1")
    # the unchanged final verifies and releases it; then the correction is a new version
    assert msa(post(world, oru("C3", "P-1", k_obx("4.2")))[1]) == "AA"
    assert results(world)[0].status == "RELEASED"
    assert msa(post(world, oru("C4", "P-1", k_obx("4.4", status="C")))[1]) == "AA"
    (result,) = results(world)
    assert (result.status, result.versions, result.values[0]["value"]) == ("CORRECTED", 2, "4.4")
    # a final that differs from its preliminary, or a second final: AE 205
    _, ack = post(world, oru("C5", "P-1", k_obx("4.4")))
    assert msa(ack) == "AE" and err(ack) == ("205", "OBR^1")


def test_fixture_cbc_after_fixture_order_enters_a_preliminary_and_skips_pending(world):
    # given this site's hemogram (the analytes the fixture reports) and its differential
    seed(world)
    rows = [
        ("RBC", "11273-0", "tera.l-1", "4.0", "5.5", None, None),
        ("HCT", "20570-8", "%", "36", "52", None, None),
        ("PLT", "11125-2", "giga.l-1", "150", "400", None, None),
    ]
    add_service(world, "HEMOGRAM", "24317-0", rows, specimen="whole_blood")
    diff = [(c, loinc, "%", None, None, None, None) for c, loinc in _DIFF]
    add_service(world, "DIFF", "26464-8", diff, specimen="whole_blood")
    enc = open_encounter(world, "10006579")
    assert msa(post(world, hl7_fixture("fc_orm_o01_v23_lab.hl7"))[1]) == "AA"

    # when the CBC report names an order this site never placed (855238581): nothing written
    before = event_count(world)
    _, ack = post(world, hl7_fixture("fc_oru_r01_v25_lab_cbc.hl7"))
    assert msa(ack) == "AE" and err(ack) == ("204", "OBR^2^2")
    assert results(world) == [] and event_count(world) == before

    # when the differential was ordered too, and the report comes again (a new control id)
    order_place(
        scope=world.scope("doctor"),
        encounter_id=enc.id,
        order_type="LAB",
        priority="ROUTINE",
        service_codes=["DIFF"],
        placer_order_number="855238581",
    )
    raw = hl7_fixture("fc_oru_r01_v25_lab_cbc.hl7").replace(b"|ORU^R01|182|", b"|ORU^R01|183|")
    _, ack = post(world, raw)

    # then both items have a preliminary (OBX-11 P) result; pending OBX (I) were skipped
    assert msa(ack) == "AA", str(ack)
    hemogram, differential = results(world)
    assert (hemogram.service_code, hemogram.status) == ("HEMOGRAM", "ENTERED")
    assert [(v["code"], v["value"]) for v in hemogram.values] == [
        ("RBC", "4.06"),
        ("HCT", "40.1"),
        ("PLT", "221"),
    ]
    assert (differential.service_code, len(differential.values)) == ("DIFF", 5)


_DIFF = [("NEUT", "23761-0"), ("EOS", "26450-7"), ("LYMPH", "26478-8")]
_DIFF += [("MONO", "26485-3"), ("BASO", "30180-4")]


def test_fixture_linked_order_then_linked_result_by_parent_service(world):
    seed(world)
    add_service(world, "NBS", "54089-8", [("SQ", "57718-9", "{code}", None, None, None, None)])
    open_encounter(world, "1300974")
    assert msa(post(world, hl7_fixture("ti_orm_o01_v251_linked_order.hl7"))[1]) == "AA"
    # OBR-4 is the report panel 57128-1; OBR-50 names the ordered 54089-8
    _, ack = post(world, hl7_fixture("ti_oru_r01_v251_linked_result.hl7"))
    assert msa(ack) == "AA", str(ack)
    (result,) = results(world)
    assert result.status == "RELEASED" and result.values[0]["value"] == "Acceptable"


def test_fixture_nist_cbc_keeps_the_laboratory_flags_and_is_critical(world):
    # given a site catalog built from what the NIST message reports (no critical limits of its own)
    seed(world)
    message = hl7_fixture("fc_oru_r01_v251_nist_lri_cbc.hl7").decode("utf-8-sig")
    rows = []
    for line in message.splitlines():
        parts = line.split("|")
        if parts[0] == "OBX":
            loinc, unit = parts[3].split("^")[0], parts[6].split("^")[0]
            rows.append((f"A{loinc}", loinc, unit or "{text}", None, None, None, None))
    add_service(world, "CBCD", "57021-8", rows, specimen="whole_blood")
    lab_order(world, "PATID1234", "ORD666555", "CBCD")

    _, ack = post(world, hl7_fixture("fc_oru_r01_v251_nist_lri_cbc.hl7"))

    assert msa(ack) == "AA", str(ack)
    (result,) = results(world)
    flags = {v["code"]: v["flag"] for v in result.values}
    assert flags["A718-7"] == "L" and flags["A26464-8"] == "HH"
    assert result.is_critical and result.status == "RELEASED" and len(result.values) == 28
    # OBX-16 (responsible observer) is empty: the laboratory itself is named as verifier
    assert result.verified_by == "NIST Lab Facility"


def test_fixture_glucose_sn_value(world):
    seed(world)
    add_service(world, "15545", "", [("GLU", "1554-5", "mg/dl", "70", "105", "40", "400")])
    lab_order(world, "555-44-4444", "845439", "15545")
    _, ack = post(world, hl7_fixture("fc_oru_r01_v24_glucose.hl7"))
    assert msa(ack) == "AA", str(ack)
    (result,) = results(world)
    assert result.values == [
        {"code": "GLU", "value": "182", "unit": "mg/dl", "flag": "H", "reference_range": "70_105"}
    ]


def test_fixture_micro_utf8_unit(world):
    seed(world)
    add_service(world, "NBS", "54089-8", [("GLY", "47633-3", "µmol/L", None, None, None, None)])
    lab_order(world, "80008836", "7181233072", "NBS")
    _, ack = post(world, hl7_fixture("ti_oru_r01_v251_micro_utf8.hl7"))
    assert msa(ack) == "AA", str(ack)
    assert results(world)[0].values[0]["unit"] == "µmol/L"


def test_unknown_order_wrong_patient_and_unknown_analyte_are_ae_with_nothing_written(world):
    seed(world)
    lab_order(world, "MRN-1", "P-1", "K")
    patient_with_mrn(world, "MRN-2")
    before = event_count(world)
    _, ack = post(world, oru("C1", "P-404", k_obx("4.2")))
    assert msa(ack) == "AE" and err(ack) == ("204", "OBR^1^2")
    _, ack = post(world, oru("C2", "P-1", k_obx("4.2"), mrn="MRN-2"))
    assert msa(ack) == "AE" and err(ack) == ("204", "PID^1^3")
    _, ack = post(world, oru("C3", "P-1", "OBX|1|NM|NA^Sodium||140|mmol/L|||||F"))
    assert msa(ack) == "AE" and err(ack) == ("204", "OBX^1^3")
    assert results(world) == [] and event_count(world) == before
    assert set(Message.objects.values_list("status", flat=True)) == {"ERROR"}


def test_results_are_tenant_isolated(world, other_world):
    seed(world)
    seed(other_world)
    lab_order(world, "MRN-1", "P-1", "K")
    _, ack = post(other_world, oru("C1", "P-1", k_obx("4.2")))
    assert msa(ack) == "AE" and err(ack) == ("204", "OBR^1^2")
    assert msa(post(world, oru("C1", "P-1", k_obx("4.2")))[1]) == "AA"
    assert results(other_world) == [] and len(results(world)) == 1
