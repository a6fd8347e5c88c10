"""Laboratory decisions and result payloads — pure Python, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hm_core.catalog.selectors import AnalyteSpec, ServiceSpec
from hm_core.common.errors import Forbidden, InvalidTransition, ValidationFailed
from hm_core.lab import analytes, domain
from hm_core.lab.errors import SameUserVerification
from hm_core.lab.events import AnalyteValue, ResultCorrected, ResultEntered


def analyte(code="K", unit="mmol/L", ref=("3.5", "5.1"), crit=("2.8", "6.2")) -> AnalyteSpec:
    def dec(value):
        return None if value is None else Decimal(value)

    return AnalyteSpec(code, code, unit, "", dec(ref[0]), dec(ref[1]), dec(crit[0]), dec(crit[1]))


POTASSIUM = ServiceSpec("K", "Potassium", "", "LAB", "serum", Decimal(5), "USD", (analyte(),))
PANEL = ServiceSpec(
    "PANEL",
    "Panel",
    "",
    "LAB",
    "serum",
    Decimal(9),
    "USD",
    (analyte("NA", ref=("135", "145"), crit=("120", "160")), analyte("K")),
)


# --- flags at every edge (reference range inclusive; critical limits inclusive) -----------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.7", "LL"),
        ("2.8", "LL"),  # at the critical low limit: critical
        ("2.81", "L"),
        ("3.49", "L"),
        ("3.5", ""),  # at the reference low limit: normal
        ("4.2", ""),
        ("5.1", ""),  # at the reference high limit: normal
        ("5.11", "H"),
        ("6.19", "H"),
        ("6.2", "HH"),  # at the critical high limit: critical
        ("7.1", "HH"),
        ("-1", "LL"),
    ],
)
def test_flag_edges_of_potassium(value, expected):
    assert analytes.flag(Decimal(value), analyte()) == expected


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (analyte(ref=(None, "5.2"), crit=(None, None)), "5.2", ""),
        (analyte(ref=(None, "5.2"), crit=(None, None)), "5.3", "H"),
        (analyte(ref=(None, "5.2"), crit=(None, None)), "-100", ""),
        (analyte(ref=("1.0", None), crit=(None, None)), "0.99", "L"),
        (analyte(ref=("1.0", None), crit=(None, None)), "1000", ""),
        (analyte(ref=("0", "26"), crit=(None, "1000")), "999.99", "H"),
        (analyte(ref=("0", "26"), crit=(None, "1000")), "1000", "HH"),
        (analyte(ref=("0.8", "1.2"), crit=(None, "5.0")), "0.1", "L"),
        (analyte(ref=(None, None), crit=(None, None)), "123456", ""),
    ],
)
def test_flag_with_missing_limits(spec, value, expected):
    assert analytes.flag(Decimal(value), spec) == expected


@pytest.mark.parametrize(
    ("ref", "expected"),
    [(("3.5000", "5.1000"), "3.5-5.1"), ((None, "5.2"), "<=5.2"), (("150", None), ">=150")],
)
def test_reference_range_text(ref, expected):
    assert analytes.reference_range(analyte(ref=ref)) == expected


# --- payload shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"analytes": [{"code": "K", "value": 7.1, "unit": "mmol/L"}]},
        {"K": {"value": 7.1, "unit": "mmol/L"}},
        {"value": 7.1, "unit": "mmol/L"},
        {"value": "7.1", "unit": " mmol/L "},
    ],
)
def test_every_payload_shape_normalises_to_the_same_values(payload):
    values, comment = analytes.normalise(payload, service=POTASSIUM)
    assert values == [
        AnalyteValue(code="K", value="7.1", unit="mmol/L", flag="HH", reference_range="3.5-5.1")
    ]
    assert comment == ""


def test_values_keep_their_exact_decimal_text_and_text_values_get_no_flag():
    values, comment = analytes.normalise(
        {
            "analytes": [
                {"code": "K", "value": "4.10", "unit": "mmol/L"},
                {"code": "NA", "value": "haemolysed", "unit": "mmol/L"},
            ],
            "comment": " slightly lipaemic ",
        },
        service=PANEL,
    )
    assert [(v.code, v.value, v.flag) for v in values] == [
        ("NA", "haemolysed", ""),
        ("K", "4.10", ""),
    ]
    assert comment == "slightly lipaemic"


def details_of(payload, service=POTASSIUM) -> list[dict[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        analytes.normalise(payload, service=service)
    assert caught.value.status == 422 and caught.value.code == "validation_error"
    return caught.value.details


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"analytes": [{"code": "XYZ", "value": 1, "unit": "mmol/L"}]}, "analytes.0.code", "XYZ"),
        ({"XYZ": {"value": 1, "unit": "mmol/L"}}, "result_payload.XYZ", "XYZ"),
        ({"value": 4.2}, "result_payload.unit", "required"),
        ({"value": 4.2, "unit": ""}, "result_payload.unit", "required"),
        ({"value": 4.2, "unit": "mg/dL"}, "result_payload.unit", "'mmol/L'"),
        ({"value": 4.2, "unit": "mmol/l"}, "result_payload.unit", "'mmol/L'"),
        ({"unit": "mmol/L"}, "result_payload.value", "required"),
        ({"value": True, "unit": "mmol/L"}, "result_payload.value", "number or text"),
        ({"value": [1], "unit": "mmol/L"}, "result_payload.value", "number or text"),
        ({"value": float("nan"), "unit": "mmol/L"}, "result_payload.value", "finite"),
        ({"value": "9" * 65, "unit": "mmol/L"}, "result_payload.value", "at most 64"),
        ({"value": 4.2, "unit": "mmol/L", "flag": "N"}, "result_payload.flag", "unknown field"),
        (
            {"analytes": [{"code": "K", "value": 1, "unit": "mmol/L", "x": 1}]},
            "result_payload.analytes.0.x",
            "unknown field",
        ),
        ({"analytes": [], "comment": "none"}, "result_payload.analytes", "non-empty"),
        ({"analytes": [{"code": "K", "value": 4}], "extra": 1}, "result_payload.extra", "unknown"),
        ({"K": 4.2}, "result_payload.K", "object"),
        ({"value": 4.2, "unit": "mmol/L", "comment": 5}, "result_payload.comment", "text"),
        ({}, "result_payload", "missing analytes: K"),
    ],
)
def test_bad_payloads_name_the_field(payload, field, fragment):
    details = details_of(payload)
    assert any(d["field"].endswith(field) and fragment in d["message"] for d in details), details


def test_every_missing_analyte_is_listed():
    details = details_of({"NA": {"value": 140, "unit": "mmol/L"}}, service=PANEL)
    assert details == [{"field": "result_payload", "message": "missing analytes: K"}]


def test_a_bare_value_is_refused_for_a_multi_analyte_service():
    details = details_of({"value": 140, "unit": "mmol/L"}, service=PANEL)
    assert "several analytes (NA, K)" in details[0]["message"]


def test_an_analyte_reported_twice_is_refused():
    twice = {"analytes": [{"code": "K", "value": 4, "unit": "mmol/L"}] * 2}
    assert "reported twice" in details_of(twice)[0]["message"]


# --- samples ----------------------------------------------------------------------------------

NOW = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)


def sample(status=domain.PENDING, items=2) -> domain.SampleState:
    return domain.SampleState(
        sample_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        encounter_id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        specimen_type="serum",
        status=status,
        version=1,
        item_ids=tuple(uuid.uuid4() for _ in range(items)),
        service_codes=tuple(f"S{i}" for i in range(items)),
    )


def test_one_sample_per_specimen_type_in_order_of_appearance():
    a, b, c = (uuid.uuid4() for _ in range(3))
    groups = domain.plan_samples(
        [
            domain.PlannedItem(a, "CBC", "whole_blood"),
            domain.PlannedItem(b, "CRP", "serum"),
            domain.PlannedItem(c, "K", "serum"),
        ]
    )
    assert groups == [
        domain.SampleGroup("whole_blood", (a,), ("CBC",)),
        domain.SampleGroup("serum", (b, c), ("CRP", "K")),
    ]


def test_receive_needs_a_pending_sample_and_an_aware_past_time():
    state = sample()
    (event,) = domain.receive(state, barcode=" BC-1 ", received_at=NOW, now=NOW)
    assert (event.barcode, event.received_at, event.item_ids) == ("BC-1", NOW, list(state.item_ids))
    with pytest.raises(ValidationFailed, match="future"):
        domain.receive(state, barcode="BC-1", received_at=NOW + timedelta(seconds=1), now=NOW)
    with pytest.raises(ValidationFailed, match="timezone"):
        domain.receive(state, barcode="BC-1", received_at=datetime(2030, 1, 7), now=NOW)  # noqa: DTZ001
    with pytest.raises(InvalidTransition) as caught:
        domain.receive(sample(domain.RECEIVED), barcode="BC-1", received_at=NOW, now=NOW)
    assert caught.value.details["from"] == "RECEIVED"


@pytest.mark.parametrize("status", [domain.PENDING, domain.RECEIVED])
def test_reject_from_pending_or_received(status):
    (event,) = domain.reject(sample(status), reason=" haemolysed ", has_results=False)
    assert event.reason == "haemolysed"


@pytest.mark.parametrize("status", [domain.REJECTED, domain.CANCELLED])
def test_reject_refused_from_an_ended_sample(status):
    with pytest.raises(InvalidTransition):
        domain.reject(sample(status), reason="late", has_results=False)


def test_reject_refused_once_a_result_is_entered_and_without_a_reason():
    with pytest.raises(InvalidTransition):
        domain.reject(sample(domain.RECEIVED), reason="clotted", has_results=True)
    with pytest.raises(ValidationFailed):
        domain.reject(sample(), reason="  ", has_results=False)


def test_a_pending_sample_is_cancelled_only_when_every_item_is():
    state = sample()
    first, second = state.item_ids
    assert domain.cancel_if_unneeded(state, cancelled_item_ids={first}, reason="") == []
    assert len(domain.cancel_if_unneeded(state, cancelled_item_ids={first, second}, reason="")) == 1
    received = sample(domain.RECEIVED)
    assert (
        domain.cancel_if_unneeded(received, cancelled_item_ids=set(received.item_ids), reason="")
        == []
    )


# --- results ----------------------------------------------------------------------------------

K_NORMAL = [AnalyteValue(code="K", value="4.2", unit="mmol/L")]
K_HH = [AnalyteValue(code="K", value="7.1", unit="mmol/L", flag="HH")]


def item(**overrides) -> domain.ItemFacts:
    fields = {
        "item_id": uuid.uuid4(),
        "order_id": uuid.uuid4(),
        "encounter_id": uuid.uuid4(),
        "patient_id": uuid.uuid4(),
        "service_code": "K",
        "item_status": "COLLECTED",
        "sample_id": uuid.uuid4(),
        "sample_status": domain.RECEIVED,
        "result_id": None,
    }
    return domain.ItemFacts(**(fields | overrides))


def enter(facts: domain.ItemFacts, values=K_NORMAL, client_critical=False) -> ResultEntered:
    (event,) = domain.enter(
        facts, result_id=uuid.uuid4(), values=values, client_critical=client_critical, comment=""
    )
    return event


def test_a_critical_value_is_critical_whatever_the_client_said():
    assert enter(item(), K_HH, client_critical=False).is_critical is True
    assert enter(item(), K_NORMAL, client_critical=True).is_critical is True
    assert enter(item(), K_NORMAL, client_critical=False).is_critical is False
    assert enter(item()).version == 1


@pytest.mark.parametrize(
    ("overrides", "frm"),
    [
        ({"sample_status": domain.PENDING}, "PENDING"),
        ({"sample_status": domain.REJECTED}, "REJECTED"),
        ({"sample_id": None, "sample_status": None}, None),
        ({"item_status": "CANCELLED"}, "CANCELLED"),
        ({"result_id": uuid.uuid4(), "item_status": "RESULTED"}, "RESULTED"),
    ],
)
def test_enter_refused(overrides, frm):
    with pytest.raises(InvalidTransition) as caught:
        enter(item(**overrides))
    assert caught.value.details["from"] == frm


def result(status=domain.ENTERED, entered_by=None, versions=1) -> domain.ResultState:
    return domain.ResultState(
        result_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        order_item_id=uuid.uuid4(),
        encounter_id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        service_code="K",
        status=status,
        version=3,
        versions=versions,
        values=tuple(K_NORMAL),
        is_critical=False,
        entered_by_id=entered_by or uuid.uuid4(),
    )


def test_verification_needs_a_second_person():
    me = uuid.uuid4()
    with pytest.raises(SameUserVerification) as caught:
        domain.verify(result(entered_by=me), user_id=me)
    assert (caught.value.status, caught.value.code) == (403, "same_user_verification")
    with pytest.raises(Forbidden):
        domain.verify(result(entered_by=me), user_id=None)
    assert len(domain.verify(result(entered_by=me), user_id=uuid.uuid4())) == 1


@pytest.mark.parametrize(
    ("decide", "allowed"),
    [
        (lambda s: domain.verify(s, user_id=uuid.uuid4()), {domain.ENTERED}),
        (domain.release, {domain.VERIFIED}),
        (
            lambda s: domain.correct(
                s, values=K_NORMAL, client_critical=False, comment="", reason="x"
            ),
            {domain.RELEASED, domain.CORRECTED},
        ),
    ],
)
def test_result_transitions_are_allowed_only_from_their_states(decide, allowed):
    for status in domain.RESULT_STATUSES:
        if status in allowed:
            assert decide(result(status))
        else:
            with pytest.raises(InvalidTransition):
                decide(result(status))


def test_a_correction_is_the_next_version_superseding_the_current_one():
    (event,) = domain.correct(
        result(domain.CORRECTED, versions=2),
        values=K_HH,
        client_critical=False,
        comment="",
        reason=" recalibrated ",
    )
    assert isinstance(event, ResultCorrected)
    assert (event.version, event.supersedes_version, event.is_critical, event.reason) == (
        3,
        2,
        True,
        "recalibrated",
    )
    with pytest.raises(ValidationFailed):
        domain.correct(
            result(domain.RELEASED), values=K_NORMAL, client_critical=False, comment="", reason=""
        )
