"""NEWS2 properties (hypothesis): over every valid set of vitals, not just the chart's edges.

The example-based tests in test_news2.py pin each band edge; these check the rules that hold
between the edges: the total is the sum of the rows, 0-20, a row never scores less as its value
moves away from normal, and the alert and risk rules follow from total and the highest row.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from hm_core.encounters.news2 import CONSCIOUSNESS_LEVELS, Vitals, news2, vitals_problems

FAST = settings(max_examples=150, deadline=None)


@st.composite
def valid_vitals(draw: st.DrawFn) -> Vitals:
    """Any set `vitals_problems` accepts: the ranges it documents, systolic above diastolic."""
    systolic = draw(st.integers(40, 300))
    unit = draw(st.sampled_from(["C", "F"]))
    tenths = draw(st.integers(250, 450) if unit == "C" else st.integers(770, 1130))
    return Vitals(
        blood_pressure_systolic=systolic,
        blood_pressure_diastolic=draw(st.integers(10, min(200, systolic - 1))),
        pulse=draw(st.integers(20, 300)),
        temperature=Decimal(tenths) / 10,
        temperature_unit=unit,
        spo2=draw(st.integers(0, 100)),
        respiratory_rate=draw(st.none() | st.integers(1, 80)),
        consciousness=draw(st.sampled_from(CONSCIOUSNESS_LEVELS)),
        supplemental_oxygen=draw(st.booleans()),
    )


@FAST
@given(valid_vitals())
def test_news2_total_is_the_sum_of_the_rows_and_between_0_and_20(vitals):
    # given vitals the domain accepts
    assert vitals_problems(vitals) == []
    # when
    score = news2(vitals)
    # then
    assert score.total == sum(score.parameters.values())
    assert 0 <= score.total <= 20
    assert all(0 <= points <= 3 for points in score.parameters.values())
    assert score.max_single == max(score.parameters.values())


@FAST
@given(valid_vitals())
def test_news2_alert_and_risk_follow_from_total_and_highest_row(vitals):
    score = news2(vitals)
    assert score.alert == (score.total >= 5 or score.max_single >= 3)
    expected = (
        "high"
        if score.total >= 7
        else "medium"
        if score.total >= 5
        else "low_medium"
        if score.max_single >= 3
        else "low"
    )
    assert score.risk == expected


@FAST
@given(valid_vitals())
def test_news2_is_complete_only_with_a_respiratory_rate(vitals):
    score = news2(vitals)
    assert score.complete == (vitals.respiratory_rate is not None)
    assert ("respiration_rate" in score.parameters) == score.complete


# Each integer row: (vital field, score row, the chart's normal band low and high, plausible range).
ROWS = [
    ("pulse", "pulse", 51, 90, (20, 300)),
    ("respiratory_rate", "respiration_rate", 12, 20, (1, 80)),
    ("blood_pressure_systolic", "systolic_bp", 111, 219, (40, 300)),
    ("spo2", "spo2", 96, 100, (0, 100)),
]


def _row_points(vitals: Vitals, field: str, row: str, value: int) -> int:
    changed = {**vitals.__dict__, field: value}
    if field == "blood_pressure_systolic":
        changed["blood_pressure_diastolic"] = 10
    return news2(Vitals(**changed)).parameters[row]


@FAST
@given(valid_vitals(), st.sampled_from(ROWS), st.data())
def test_a_row_never_scores_less_further_from_normal(vitals, spec, data):
    # given two values on the same side of the row's normal band, `far` further away
    field, row, low, high, (lowest, highest) = spec
    near, far = _side(data, low=low, high=high, lowest=lowest, highest=highest)
    vitals = Vitals(**{**vitals.__dict__, "respiratory_rate": vitals.respiratory_rate or 16})
    # then the further value scores at least as much, and normal scores 0
    assert _row_points(vitals, field, row, far) >= _row_points(vitals, field, row, near)
    assert _row_points(vitals, field, row, data.draw(st.integers(low, high))) == 0


def _side(data: st.DataObject, *, low: int, high: int, lowest: int, highest: int) -> tuple:
    """Two values on one side of the normal band [low, high]: (near, far), far further out."""
    if data.draw(st.booleans()) and low > lowest:
        near = data.draw(st.integers(lowest, low))
        return near, data.draw(st.integers(lowest, near))
    near = data.draw(st.integers(high, highest))
    return near, data.draw(st.integers(near, highest))


@FAST
@given(valid_vitals(), st.data())
def test_temperature_never_scores_less_further_from_normal(vitals, data):
    # given 36.1-38.0 °C (scored 0) and two Celsius values, in tenths, on one side of it
    def points(tenths: int) -> int:
        changed = {**vitals.__dict__, "temperature": Decimal(tenths) / 10, "temperature_unit": "C"}
        return news2(Vitals(**changed)).parameters["temperature"]

    near, far = _side(data, low=361, high=380, lowest=250, highest=450)
    # then
    assert points(far) >= points(near)
    assert points(data.draw(st.integers(361, 380))) == 0


@FAST
@given(valid_vitals())
def test_oxygen_and_any_consciousness_but_alert_only_raise_the_score(vitals):
    base = {**vitals.__dict__, "supplemental_oxygen": False, "consciousness": "A"}
    at_rest = news2(Vitals(**base)).total
    assert news2(Vitals(**{**base, "supplemental_oxygen": True})).total == at_rest + 2
    for level in CONSCIOUSNESS_LEVELS[1:]:
        assert news2(Vitals(**{**base, "consciousness": level})).total == at_rest + 3
