"""An outside laboratory's result decisions — no database."""

from __future__ import annotations

import uuid

import pytest

from hm_core.lab import analytes, domain
from hm_core.lab.errors import ResultAlreadyReported
from hm_core.lab.events import AnalyteValue, ResultEntered, ResultReleased, ResultVerified


def _item() -> domain.ItemFacts:
    return domain.ItemFacts(
        item_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        encounter_id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        service_code="K",
        item_status="COLLECTED",
        sample_id=uuid.uuid4(),
        sample_status=domain.RECEIVED,
        result_id=None,
    )


K = AnalyteValue(code="K", value="7.1", unit="mmol/L", flag="HH", reference_range="3.5-5.1")


def test_a_final_result_is_entered_verified_by_the_lab_and_released_critical():
    # when
    events = domain.accept_final(
        _item(),
        result_id=uuid.uuid4(),
        values=[K],
        client_critical=False,
        comment="",
        laboratory="REFLAB",
        verifier="Jo Smith",
    )
    # then
    assert [type(e) for e in events] == [ResultEntered, ResultVerified, ResultReleased]
    assert events[1].external_laboratory == "REFLAB" and events[1].external_verifier == "Jo Smith"
    assert events[2].is_critical is True


def test_a_final_that_differs_from_its_preliminary_is_a_duplicate():
    entered = domain.enter(
        _item(), result_id=uuid.uuid4(), values=[K], client_critical=False, comment=""
    )[0]
    state = domain._entered_state(entered)
    other = K.model_copy(update={"value": "7.2"})
    with pytest.raises(ResultAlreadyReported):
        domain.check_final_matches(state, values=[other])
    domain.check_final_matches(state, values=[K])


def test_the_more_severe_flag_wins():
    normal = K.model_copy(update={"flag": "", "value": "4.0"})
    (merged,) = analytes.with_reported_flags([normal], flags={"K": "HH"}, ranges={"K": "3-5"})
    assert (merged.flag, merged.reference_range) == ("HH", "3-5")
    (kept,) = analytes.with_reported_flags([K], flags={"K": "H"}, ranges={})
    assert kept.flag == "HH"
