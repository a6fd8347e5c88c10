"""ADT A01/A04/A08/A11 over `POST /api/interop/hl7/` (contract §11), with real messages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import hl7
import pytest

from hm_core.encounters.models import Encounter
from hm_core.events.models import Event
from hm_core.interop.models import Message
from hm_core.patients.models import Patient
from hm_core.patients.services import patient_register
from tests.conftest import World
from tests.interop.conftest import er7, hl7_fixture

MSH_A04 = "MSH|^~\\&|REG|HOSP|HM|HOSP|20260102030405||ADT^A04|{control_id}|P|2.5.1"
MSH_A08 = "MSH|^~\\&|REG|HOSP|HM|HOSP|20260102030405||ADT^A08|{control_id}|P|2.5.1"
MSH_A11 = "MSH|^~\\&|REG|HOSP|HM|HOSP|20260102030405||ADT^A11|{control_id}|P|2.5.1"


# --- helpers -------------------------------------------------------------------------------


def _post(world: World, raw: bytes) -> tuple[Any, hl7.Message]:
    api = world.api("integration")
    response = api.client.post(
        "/api/interop/hl7/", data=raw, content_type="application/hl7-v2", headers=api.headers
    )
    assert response.status_code == 200, response.content
    return response, hl7.parse(response.content.decode())


def _msa(ack: hl7.Message) -> str:
    return str(ack.segment("MSA")(1))


def _err(ack: hl7.Message) -> tuple[str, str]:
    """ERR-3 code and ERR-2 location as `SEG^seq^field`."""
    err = ack.segment("ERR")
    location = "^".join(str(err.extract_field(1, 2, 1, c)) for c in (1, 2, 3))
    return str(err.extract_field(1, 3, 1, 1)), location


def _with_field(raw: bytes, segment: str, number: int, value: str) -> bytes:
    """The message with SEG-number replaced (the MSH counts its field separator as MSH-1)."""
    bom = b"\xef\xbb\xbf" if raw.startswith(b"\xef\xbb\xbf") else b""
    lines = raw[len(bom) :].decode("latin-1").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i, line in enumerate(lines):
        if line.startswith(segment + "|"):
            fields = line.split("|")
            index = number - 1 if segment == "MSH" else number
            fields += [""] * (index + 1 - len(fields))
            fields[index] = value
            lines[i] = "|".join(fields)
            break
    return bom + "\r".join(lines).encode("latin-1")


def _patients(world: World) -> Any:
    return Patient.all_tenants.filter(tenant_id=world.tenant.id)


def _encounters(world: World) -> Any:
    return Encounter.all_tenants.filter(tenant_id=world.tenant.id)


def _events(world: World) -> Any:
    return Event.objects.filter(tenant_id=world.tenant.id)


def _rows(world: World) -> Any:
    return Message.objects.filter(tenant_id=world.tenant.id).order_by("received_at")


def _register(world: World, **demographics: Any) -> Patient:
    values = {
        "full_name": "Someone Else",
        "date_of_birth": date(1980, 1, 1),
        "gender": "U",
        "phone": "",
        "email": "",
        "address": None,
        **demographics,
    }
    return patient_register(scope=world.scope("receptionist"), demographics=values)


def _address(*parts: str) -> dict[str, str]:
    return dict(
        zip(("line1", "line2", "city", "state", "postal_code", "country"), parts, strict=True)
    )


def _a04(control_id: str, *, pid: str, pv1: str = "PV1|1|O") -> bytes:
    return er7(MSH_A04.format(control_id=control_id), "EVN|A04|20260102030405", pid, pv1)


# --- A01 / A04 with real messages ------------------------------------------------------------

ADMISSIONS = [
    pytest.param(
        "fc_adt_a01_v23_accmgr.hl7",
        {
            "mrn": "10006579",
            "full_name": "DONALD D DUCK",
            "given_name": "DONALD",
            "middle_name": "D",
            "family_name": "DUCK",
            "date_of_birth": date(1924, 10, 10),
            "gender": "M",
            "phone": "8885551212",
            # no PID-11.6: country unknown, so the ZIP is not checked against US rules
            "address": _address("111 DUCK ST", "", "FOWL", "CA", "999990000", ""),
        },
        {
            "visit_number": "40007716",
            "reason": "ADT A01",
            "scheduled_at": datetime(2005, 1, 9, 21, 55, 2, tzinfo=UTC),  # PV1-44, +0700
        },
        id="a01-v23-accmgr",
    ),
    pytest.param(
        "fc_adt_a01_v251_ghh.hl7",
        {
            "mrn": "PATID1234",  # the MR repetition of two
            "full_name": "ADAM A EVERYMAN",
            "given_name": "ADAM",
            "middle_name": "A",
            "family_name": "EVERYMAN",
            "date_of_birth": date(1961, 6, 15),
            "gender": "M",
            "phone": "(555) 555-2004",
            "address": _address("2222 HOME STREET", "", "GREENSBORO", "NC", "27401-1020", ""),
        },
        {
            "visit_number": "",
            "reason": "ADT A01",
            "scheduled_at": datetime(2007, 8, 18, 4, 23, tzinfo=UTC),  # EVN-2, no PV1-44
        },
        id="a01-v251-ghh",
    ),
    pytest.param(
        "fc_adt_a01_v28_full.hl7",
        {
            "mrn": "PATID1234",
            "full_name": "ADAM A EVERYMAN",  # EVERYMAN&&&&Aniston: the surname sub-component
            "given_name": "ADAM",
            "middle_name": "A",
            "family_name": "EVERYMAN",
            "date_of_birth": date(1988, 8, 18),  # 198808181126+0215: the date as sent
            "gender": "M",
            "phone": "78788788",
            # SAD street sub-components joined; USA (alpha-3) → US, so state and ZIP are checked
            "address": _address("1000 Hospital Lane", "Ste. 123", "Ann Arbor", "MI", "99999", "US"),
        },
        {
            "visit_number": "40007716",
            "reason": "Chronic pharyngitis",  # PV2-3 text, before EVN-4
            "scheduled_at": datetime(2015, 2, 8, 10, 24, 19, tzinfo=UTC),  # +0110
        },
        id="a01-v28-full",
    ),
    pytest.param(
        "fc_adt_a04_v23_nes.hl7",
        {
            "mrn": "123456789",
            "full_name": "MARIO BROS",
            "given_name": "MARIO",
            "middle_name": "",
            "family_name": "BROS",
            "date_of_birth": date(1985, 1, 1),
            "gender": "M",
            "phone": "(555)555-0123",
            "address": _address(
                "123 FAKE STREET",
                "MARIO LUIGI BROS PLACE",
                "TOADSTOOL KINGDOM",
                "NES",
                "A1B2C3",
                "JP",
            ),
        },
        {
            "visit_number": "0123456789",
            "reason": "ADT A04",
            "scheduled_at": datetime(2000, 12, 31, 17, 0, tzinfo=UTC),
        },
        id="a04-v23-nes",
    ),
    pytest.param(
        "fc_adt_a04_v23_redox.hl7",
        {
            "mrn": "MRN12345",
            "full_name": "Jane Doe",
            "given_name": "Jane",
            "middle_name": "",
            "family_name": "Doe",
            "date_of_birth": date(1978, 1, 1),
            "gender": "F",
            "phone": "",
            "address": None,
        },
        {
            "visit_number": "",
            "reason": "ADT A04",
            "scheduled_at": datetime(2019, 5, 4, 11, 12, 5, tzinfo=UTC),
        },
        id="a04-v23-redox-no-evn",
    ),
    pytest.param(
        "ti_adt_a01_v23_mn_newborn.hl7",
        {
            "mrn": "11102779",  # no identifier type: the first repetition
            "full_name": "BB SARAH SMITH",
            "given_name": "BB SARAH",  # SMITH^BB SARAH: the given name as sent, never re-split
            "middle_name": "",
            "family_name": "SMITH",
            "date_of_birth": date(2023, 5, 4),
            "gender": "M",
            "phone": "",
            "address": _address("555 STATE HIGHWAY 13", "", "DEER CREEK", "MN", "56527-9657", "US"),
        },
        {
            "visit_number": "",
            "reason": "ADT_EVENT",  # EVN-4
            "scheduled_at": datetime(2023, 5, 4, 13, 19, 24, tzinfo=UTC),  # EVN-2, no zone
        },
        id="a01-v23-newborn",
    ),
]


@pytest.mark.parametrize(("fixture", "patient_expected", "encounter_expected"), ADMISSIONS)
def test_admission_registers_patient_and_checks_in_encounter(
    world: World, fixture: str, patient_expected: dict[str, Any], encounter_expected: dict[str, Any]
) -> None:
    # given
    raw = hl7_fixture(fixture)

    # when
    response, ack = _post(world, raw)

    # then
    assert _msa(ack) == "AA", response.content
    assert response["Content-Type"].startswith("application/hl7-v2")
    patient = _patients(world).get()
    assert {k: getattr(patient, k) for k in patient_expected} == patient_expected
    assert patient.email == ""
    encounter = _encounters(world).get()
    assert encounter.patient_id == patient.id
    assert encounter.status == "CHECKED_IN"
    assert encounter.facility_id == world.main.id
    assert {k: getattr(encounter, k) for k in encounter_expected} == encounter_expected
    row = _rows(world).get()
    assert row.status == "ACCEPTED"
    assert bytes(row.raw) == raw
    events = _events(world).filter(stream_id__in=[patient.id, encounter.id]).order_by("position")
    assert [e.type for e in events] == [
        "patient.registered",
        "encounter.created",
        "encounter.checked_in",
    ]
    assert {e.causation_id for e in events} == {row.id}
    assert _events(world).filter(causation_id=row.id).count() >= 3


def test_admission_again_with_new_control_id_creates_nothing_new(world: World) -> None:
    # given
    raw = hl7_fixture("fc_adt_a04_v23_nes.hl7")
    _post(world, raw)
    events_before = _events(world).count()

    # when
    _, ack = _post(world, _with_field(raw, "MSH", 10, "NES-RESENT-1"))

    # then
    assert _msa(ack) == "AA"
    assert _patients(world).count() == 1
    assert _encounters(world).count() == 1
    second = _rows(world).get(control_id="NES-RESENT-1")
    assert second.status == "ACCEPTED"
    assert _events(world).filter(causation_id=second.id).count() == 0
    assert _events(world).count() == events_before


def test_admission_with_same_control_id_is_a_duplicate_with_the_first_ack(world: World) -> None:
    # given
    raw = hl7_fixture("fc_adt_a01_v23_accmgr.hl7")
    first, _ = _post(world, raw)
    events_before = _events(world).count()

    # when
    again, ack = _post(world, raw)

    # then
    assert again.content == first.content
    assert _msa(ack) == "AA"
    assert [r.status for r in _rows(world)] == ["ACCEPTED", "DUPLICATE"]
    assert _patients(world).count() == 1
    assert _encounters(world).count() == 1
    assert _events(world).count() == events_before


def test_admission_of_a_known_patient_updates_only_changed_demographics(world: World) -> None:
    # given
    patient = _register(
        world, mrn="123456789", full_name="Mario Bros", gender="M", email="mario@example.org"
    )
    raw = hl7_fixture("fc_adt_a04_v23_nes.hl7")

    # when
    _, ack = _post(world, raw)

    # then
    assert _msa(ack) == "AA"
    patient.refresh_from_db()
    assert patient.full_name == "MARIO BROS"
    assert (patient.given_name, patient.family_name) == ("MARIO", "BROS")
    assert patient.date_of_birth == date(1985, 1, 1)
    assert patient.email == "mario@example.org"  # PID never sent it: kept
    updated = _events(world).get(stream_id=patient.id, type="patient.updated")
    assert set(updated.payload["changes"]) == {
        "full_name",
        "given_name",
        "family_name",
        "date_of_birth",
        "phone",
        "address",
    }
    assert updated.causation_id == _rows(world).get().id
    assert _encounters(world).get().patient_id == patient.id


def test_admission_takes_the_mr_repetition_of_pid3_and_builds_phone_from_components(
    world: World,
) -> None:
    # given
    pid = "PID|1||999^^^SSA^SS~MRN-77^^^HOSP^MR||Doe^John^Q||19700203|X|||||^PRN^PH^^1^555^5550123"

    # when
    _, ack = _post(world, _a04("C-MR", pid=pid, pv1="PV1|1|O|||||||||||||||||V-77"))

    # then
    assert _msa(ack) == "AA"
    patient = _patients(world).get()
    assert (patient.mrn, patient.full_name, patient.gender) == ("MRN-77", "John Q Doe", "O")
    assert (patient.given_name, patient.middle_name, patient.family_name) == ("John", "Q", "Doe")
    assert patient.phone == "+1 555 5550123"
    assert _encounters(world).get().visit_number == "V-77"


@pytest.mark.parametrize(
    ("birth_date", "code"),
    [
        pytest.param("20991231", "102", id="future"),
        pytest.param("20230230", "102", id="impossible"),
        pytest.param("DOB", "102", id="epic-placeholder"),
        pytest.param("1980", "102", id="year-only"),
        pytest.param("", "101", id="missing"),
    ],
)
def test_admission_with_bad_birth_date_is_ae_and_writes_nothing(
    world: World, birth_date: str, code: str
) -> None:
    # given
    events_before = _events(world).count()
    pid = f"PID|1||MRN-BAD^^^HOSP^MR||Doe^John||{birth_date}|SEX"
    raw = _a04("C-BAD", pid=pid, pv1="PV1|1|O|||||||||||||||||V-BAD")

    # when
    _, ack = _post(world, raw)

    # then
    assert _msa(ack) == "AE"
    assert _err(ack) == (code, "PID^1^7")
    assert not _patients(world).exists()
    assert not _encounters(world).exists()
    assert _events(world).count() == events_before
    row = _rows(world).get()
    assert row.status == "ERROR"
    assert row.error_code == code
    assert bytes(row.raw) == raw


def test_admission_of_real_message_with_future_birth_date_is_ae(world: World) -> None:
    # given
    raw = _with_field(hl7_fixture("fc_adt_a01_v251_ghh.hl7"), "PID", 7, "20991231")

    # when
    _, ack = _post(world, raw)

    # then
    assert _msa(ack) == "AE"
    assert _err(ack) == ("102", "PID^1^7")
    assert not _patients(world).exists()
    assert _rows(world).get().status == "ERROR"


def test_admission_with_visit_number_of_another_patient_is_ae(world: World) -> None:
    # given
    _post(world, hl7_fixture("fc_adt_a01_v23_accmgr.hl7"))  # visit 40007716, MRN 10006579

    # when: another patient (PATID1234) with the same PV1-19
    _, ack = _post(world, hl7_fixture("fc_adt_a01_v28_full.hl7"))

    # then
    assert _msa(ack) == "AE"
    assert _err(ack) == ("205", "PV1^1^19")
    assert list(_patients(world).values_list("mrn", flat=True)) == ["10006579"]


# --- A08 ------------------------------------------------------------------------------------


def test_a08_updates_demographics_and_creates_no_encounter(world: World) -> None:
    # given
    patient = _register(
        world,
        mrn="PATID1234",
        full_name="Adam Everyman",
        date_of_birth=date(1988, 8, 18),
        gender="M",
        phone="111",
        email="adam@example.org",
    )

    # when
    _, ack = _post(world, hl7_fixture("fc_adt_a08_v28.hl7"))

    # then
    assert _msa(ack) == "AA"
    patient.refresh_from_db()
    assert patient.full_name == "ADAM A EVERYMAN"
    assert (patient.given_name, patient.middle_name, patient.family_name) == (
        "ADAM",
        "A",
        "EVERYMAN",
    )
    assert patient.phone == "78788788"
    assert patient.address == _address(
        "1000 Hospital Lane", "Ste. 123", "Ann Arbor", "MI", "99999", "US"
    )
    assert patient.email == "adam@example.org"
    assert not _encounters(world).exists()
    row = _rows(world).get()
    assert row.status == "ACCEPTED"
    updated = _events(world).get(type="patient.updated")
    assert updated.causation_id == row.id
    # "Adam Everyman" was split into Adam / Everyman: the parts that differ travel too
    assert set(updated.payload["changes"]) == {
        "full_name",
        "given_name",
        "middle_name",
        "family_name",
        "phone",
        "address",
    }


def test_a08_for_unknown_mrn_is_ae_204_and_writes_nothing(world: World) -> None:
    # given
    events_before = _events(world).count()
    raw = hl7_fixture("fc_adt_a08_v28.hl7")

    # when
    _, ack = _post(world, raw)

    # then
    assert _msa(ack) == "AE"
    assert _err(ack) == ("204", "PID^1^3")
    assert not _patients(world).exists()
    assert _events(world).count() == events_before
    row = _rows(world).get()
    assert (row.status, bytes(row.raw)) == ("ERROR", raw)


def test_a08_empty_field_keeps_and_double_quotes_delete(world: World) -> None:
    # given
    patient = _register(
        world,
        mrn="MRN-Q",
        full_name="Jo Public",
        phone="555-0100",
        address=_address("1 Main St", "", "Springfield", "IL", "62701", "US"),
    )
    pid = 'PID|1||MRN-Q^^^HOSP^MR||||||||""||""'  # no name/birth date/address; phone ""

    # when
    _, ack = _post(world, er7(MSH_A08.format(control_id="C-Q"), "EVN|A08", pid, "PV1|1|O"))

    # then
    assert _msa(ack) == "AA"
    patient.refresh_from_db()
    assert (patient.full_name, patient.date_of_birth) == ("Jo Public", date(1980, 1, 1))
    assert patient.address is None
    assert patient.phone == ""


# --- A11 ------------------------------------------------------------------------------------


def test_a11_cancels_the_encounter_with_that_visit_number(world: World) -> None:
    # given
    pid = "PID|1||MRN-11^^^HOSP^MR||Doe^Jane||19800101|F"
    _post(world, _a04("C-A04", pid=pid, pv1="PV1|1|O|||||||||||||||||V-11"))
    raw = er7(MSH_A11.format(control_id="C-A11"), "EVN|A11", pid, "PV1|1|O|||||||||||||||||V-11")

    # when
    _, ack = _post(world, raw)

    # then
    assert _msa(ack) == "AA"
    encounter = _encounters(world).get()
    assert encounter.status == "CANCELLED"
    assert encounter.cancel_reason == "Admission cancelled (ADT^A11)"
    cancelled = _events(world).get(type="encounter.cancelled")
    assert cancelled.causation_id == _rows(world).get(control_id="C-A11").id


def test_a11_for_unknown_visit_number_is_ae_204(world: World) -> None:
    # given
    pid = "PID|1||MRN-11^^^HOSP^MR||Doe^Jane||19800101|F"
    raw = er7(MSH_A11.format(control_id="C-A11"), "EVN|A11", pid, "PV1|1|O|||||||||||||||||V-404")

    # when
    _, ack = _post(world, raw)

    # then
    assert _msa(ack) == "AE"
    assert _err(ack) == ("204", "PV1^1^19")
    assert _rows(world).get().status == "ERROR"


def test_a11_sent_again_is_aa_and_changes_nothing(world: World) -> None:
    # given
    pid = "PID|1||MRN-11^^^HOSP^MR||Doe^Jane||19800101|F"
    pv1 = "PV1|1|O|||||||||||||||||V-11"
    _post(world, _a04("C-A04", pid=pid, pv1=pv1))
    _post(world, er7(MSH_A11.format(control_id="C-A11"), "EVN|A11", pid, pv1))
    events_before = _events(world).count()

    # when: the sender's retry, with a new control id
    _, ack = _post(world, er7(MSH_A11.format(control_id="C-A11-2"), "EVN|A11", pid, pv1))

    # then
    assert _msa(ack) == "AA"
    assert _encounters(world).get().status == "CANCELLED"
    assert _events(world).count() == events_before


def test_a11_naming_another_patient_than_the_visits_is_ae_204(world: World) -> None:
    # given
    pv1 = "PV1|1|O|||||||||||||||||V-11"
    _post(world, _a04("C-A04", pid="PID|1||MRN-11^^^HOSP^MR||Doe^Jane||19800101|F", pv1=pv1))
    _register(world, mrn="MRN-OTHER")
    other = "PID|1||MRN-OTHER^^^HOSP^MR||Else^Someone||19800101|U"

    # when
    _, ack = _post(world, er7(MSH_A11.format(control_id="C-A11"), "EVN|A11", other, pv1))

    # then
    assert _msa(ack) == "AE"
    assert _err(ack) == ("204", "PV1^1^19")
    assert _encounters(world).get().status == "CHECKED_IN"


# --- tenants ----------------------------------------------------------------------------------


def test_message_in_another_tenant_never_touches_this_tenants_patients(
    world: World, other_world: World
) -> None:
    # given
    mine = _register(world, mrn="123456789", full_name="Mine Only", phone="555-0199")
    raw = hl7_fixture("fc_adt_a04_v23_nes.hl7")

    # when: the same MRN arrives in the rival tenant
    _, ack = _post(other_world, raw)

    # then
    assert _msa(ack) == "AA"
    mine.refresh_from_db()
    assert (mine.full_name, mine.phone, mine.version) == ("Mine Only", "555-0199", 1)
    assert not _encounters(world).exists()
    theirs = _patients(other_world).get()
    assert theirs.id != mine.id and theirs.full_name == "MARIO BROS"
    assert _encounters(other_world).get().patient_id == theirs.id
    assert not _rows(world).exists()

    # when: the same control id in this tenant is no duplicate of the rival's
    _, ack = _post(world, raw)

    # then
    assert _msa(ack) == "AA"
    assert _rows(world).get().status == "ACCEPTED"
    assert _encounters(world).get().patient_id == mine.id
