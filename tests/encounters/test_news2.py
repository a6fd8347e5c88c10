"""NEWS2 scoring (RCP 2017 chart, SpO2 scale 1) and vital-sign validation — no database."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from hm_core.encounters.news2 import News2Score, Vitals, VitalsProblem, news2, vitals_problems

HEALTHY = Vitals(
    blood_pressure_systolic=120,
    blood_pressure_diastolic=80,
    pulse=72,
    temperature=Decimal("37.0"),
    temperature_unit="C",
    spo2=98,
    respiratory_rate=16,
    consciousness="A",
    supplemental_oxygen=False,
)


def vitals(**changes: Any) -> Vitals:
    """A healthy adult (NEWS2 0, no problems) with the given observations changed."""
    return replace(HEALTHY, **changes)


def problem_fields(v: Vitals) -> list[str]:
    return [p.field for p in vitals_problems(v)]


# --- chart bands: both sides of every published edge ---------------------------------------


@pytest.mark.parametrize(
    ("rate", "points"),
    [(1, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (80, 3)],
)
def test_respiration_rate_bands(rate: int, points: int) -> None:
    assert news2(vitals(respiratory_rate=rate)).parameters["respiration_rate"] == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(0, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
def test_spo2_scale_1_bands(spo2: int, points: int) -> None:
    assert news2(vitals(spo2=spo2)).parameters["spo2"] == points


@pytest.mark.parametrize(("oxygen", "points"), [(False, 0), (True, 2)])
def test_air_or_oxygen(oxygen: bool, points: int) -> None:
    assert news2(vitals(supplemental_oxygen=oxygen)).parameters["air_or_oxygen"] == points


def test_supplemental_oxygen_defaults_to_air() -> None:
    # given vitals built without saying air or oxygen
    v = Vitals(
        blood_pressure_systolic=120,
        blood_pressure_diastolic=80,
        pulse=72,
        temperature=Decimal("98.6"),
        spo2=98,
        respiratory_rate=16,
    )

    # then it is air, and the unit is the API's default Fahrenheit
    assert v.supplemental_oxygen is False
    assert v.temperature_unit == "F"
    assert news2(v).parameters["air_or_oxygen"] == 0


@pytest.mark.parametrize(
    ("systolic", "points"),
    [
        (40, 3),
        (90, 3),
        (91, 2),
        (100, 2),
        (101, 1),
        (110, 1),
        (111, 0),
        (219, 0),
        (220, 3),
        (300, 3),
    ],
)
def test_systolic_bp_bands(systolic: int, points: int) -> None:
    v = vitals(blood_pressure_systolic=systolic, blood_pressure_diastolic=30)
    assert news2(v).parameters["systolic_bp"] == points


@pytest.mark.parametrize(
    ("pulse", "points"),
    [
        (20, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
        (300, 3),
    ],
)
def test_pulse_bands(pulse: int, points: int) -> None:
    assert news2(vitals(pulse=pulse)).parameters["pulse"] == points


@pytest.mark.parametrize(("level", "points"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness_acvpu(level: str, points: int) -> None:
    assert news2(vitals(consciousness=level)).parameters["consciousness"] == points


@pytest.mark.parametrize(
    ("celsius", "points"),
    [
        ("25.0", 3),
        ("35.0", 3),
        ("35.1", 1),
        ("36.0", 1),
        ("36.1", 0),
        ("38.0", 0),
        ("38.1", 1),
        ("39.0", 1),
        ("39.1", 2),
        ("45.0", 2),
    ],
)
def test_temperature_bands_celsius(celsius: str, points: int) -> None:
    v = vitals(temperature=Decimal(celsius), temperature_unit="C")
    assert news2(v).parameters["temperature"] == points


# --- temperature conversion ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fahrenheit", "celsius", "points"),
    [
        ("98.6", "37.0", 0),
        ("95.0", "35.0", 3),
        ("95.2", "35.1", 1),  # 35.11 -> 35.1
        ("96.8", "36.0", 1),
        ("97.0", "36.1", 0),  # 36.11 -> 36.1
        ("100.4", "38.0", 0),
        ("100.6", "38.1", 1),  # 38.11 -> 38.1
        ("102.2", "39.0", 1),
        ("102.4", "39.1", 2),  # 39.11 -> 39.1
        ("77.0", "25.0", 3),
        ("113.0", "45.0", 2),
    ],
)
def test_fahrenheit_is_converted_to_one_decimal_celsius_before_banding(
    fahrenheit: str, celsius: str, points: int
) -> None:
    # given
    v = vitals(temperature=Decimal(fahrenheit), temperature_unit="F")

    # when
    score = news2(v)

    # then
    assert v.temperature_celsius() == Decimal(celsius)
    assert score.parameters["temperature"] == points


def test_conversion_rounds_half_up_not_half_even() -> None:
    # given 96.89 °F, which is exactly 36.05 °C: half-even would give 36.0 (1 point)
    v = vitals(temperature=Decimal("96.89"), temperature_unit="F")

    # then it rounds up to 36.1 and scores 0
    assert v.temperature_celsius() == Decimal("36.1")
    assert news2(v).parameters["temperature"] == 0


def test_celsius_with_two_decimals_is_rounded_to_the_chart_resolution() -> None:
    v = vitals(temperature=Decimal("38.05"), temperature_unit="C")

    assert v.temperature_celsius() == Decimal("38.1")
    assert news2(v).parameters["temperature"] == 1


def test_temperature_celsius_refuses_an_unknown_unit() -> None:
    with pytest.raises(ValueError, match="temperature unit"):
        vitals(temperature_unit="K").temperature_celsius()


# --- worked examples and risk bands ---------------------------------------------------------


def test_healthy_adult_scores_zero_low_risk() -> None:
    # given RR 16, SpO2 98 on air, SBP 120, pulse 72, alert, 37.0 °C
    # when
    score = news2(HEALTHY)

    # then
    assert score == News2Score(
        total=0,
        parameters={
            "respiration_rate": 0,
            "spo2": 0,
            "air_or_oxygen": 0,
            "systolic_bp": 0,
            "pulse": 0,
            "consciousness": 0,
            "temperature": 0,
        },
        max_single=0,
        risk="low",
        complete=True,
        alert=False,
    )


def test_septic_patient_scores_high() -> None:
    # given RR 24, SpO2 93 on oxygen, SBP 95, pulse 115, responds to voice, 38.5 °C
    v = vitals(
        respiratory_rate=24,
        spo2=93,
        supplemental_oxygen=True,
        blood_pressure_systolic=95,
        blood_pressure_diastolic=55,
        pulse=115,
        consciousness="V",
        temperature=Decimal("38.5"),
    )

    # when
    score = news2(v)

    # then 2 + 2 + 2 + 2 + 2 + 3 + 1
    assert score.parameters == {
        "respiration_rate": 2,
        "spo2": 2,
        "air_or_oxygen": 2,
        "systolic_bp": 2,
        "pulse": 2,
        "consciousness": 3,
        "temperature": 1,
    }
    assert score.total == 14
    assert score.max_single == 3
    assert score.risk == "high"
    assert score.alert is True
    assert score.complete is True


def test_single_red_score_is_low_medium_and_alerts() -> None:
    # given new confusion, everything else normal
    score = news2(vitals(consciousness="C"))

    # then
    assert (score.total, score.max_single, score.risk, score.alert) == (3, 3, "low_medium", True)


def test_total_five_without_a_single_three_is_medium_and_alerts() -> None:
    # given RR 21 (2) + SpO2 94 (1) + pulse 91 (1) + 38.1 °C (1)
    score = news2(vitals(respiratory_rate=21, spo2=94, pulse=91, temperature=Decimal("38.1")))

    # then
    assert (score.total, score.max_single, score.risk, score.alert) == (5, 2, "medium", True)


def test_total_four_without_a_single_three_is_low_and_does_not_alert() -> None:
    # given RR 22 (2) + SpO2 95 (1) + SBP 105 (1)
    score = news2(vitals(respiratory_rate=22, spo2=95, blood_pressure_systolic=105))

    # then
    assert (score.total, score.max_single, score.risk, score.alert) == (4, 2, "low", False)


def test_aggregate_band_outranks_a_single_red_score() -> None:
    # given SBP 85 (3) on oxygen (2): a single 3 inside an aggregate of 5
    score = news2(
        vitals(blood_pressure_systolic=85, blood_pressure_diastolic=50, supplemental_oxygen=True)
    )

    # then the aggregate decides the band
    assert (score.total, score.max_single, score.risk, score.alert) == (5, 3, "medium", True)


@pytest.mark.parametrize(
    ("changes", "total", "risk"),
    [
        ({"respiratory_rate": 21, "spo2": 94, "pulse": 111}, 5, "medium"),
        ({"respiratory_rate": 21, "spo2": 92, "pulse": 111}, 6, "medium"),
        (
            {"respiratory_rate": 21, "spo2": 92, "pulse": 111, "temperature": Decimal("38.1")},
            7,
            "high",
        ),
    ],
)
def test_aggregate_risk_edges(changes: dict[str, Any], total: int, risk: str) -> None:
    score = news2(vitals(**changes))

    assert (score.total, score.max_single, score.risk, score.alert) == (total, 2, risk, True)


def test_missing_respiratory_rate_scores_the_other_parameters_as_incomplete() -> None:
    # given no respiratory rate, SpO2 94 (1) and pulse 111 (2)
    v = vitals(respiratory_rate=None, spo2=94, pulse=111)

    # when
    score = news2(v)

    # then
    assert score.complete is False
    assert "respiration_rate" not in score.parameters
    assert set(score.parameters) == {
        "spo2",
        "air_or_oxygen",
        "systolic_bp",
        "pulse",
        "consciousness",
        "temperature",
    }
    assert score.total == 3
    assert score.risk == "low"


def test_unrecognised_consciousness_scores_as_not_alert() -> None:
    # given a value validation would refuse: it must never lower the score
    assert news2(vitals(consciousness="a")).parameters["consciousness"] == 3


# --- validation ------------------------------------------------------------------------------


def test_healthy_vitals_have_no_problems() -> None:
    assert vitals_problems(HEALTHY) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"spo2": 0},
        {"spo2": 100},
        {"pulse": 20},
        {"pulse": 300},
        {"blood_pressure_systolic": 40, "blood_pressure_diastolic": 30},
        {"blood_pressure_systolic": 300},
        {"blood_pressure_diastolic": 10},
        {"blood_pressure_systolic": 250, "blood_pressure_diastolic": 200},
        {"blood_pressure_systolic": 120, "blood_pressure_diastolic": 119},
        {"respiratory_rate": 1},
        {"respiratory_rate": 80},
        {"respiratory_rate": None},
        {"temperature": Decimal("25.0"), "temperature_unit": "C"},
        {"temperature": Decimal("45.0"), "temperature_unit": "C"},
        {"temperature": Decimal("77.0"), "temperature_unit": "F"},
        {"temperature": Decimal("113.0"), "temperature_unit": "F"},
        {"consciousness": "A"},
        {"consciousness": "C"},
        {"consciousness": "V"},
        {"consciousness": "P"},
        {"consciousness": "U"},
    ],
)
def test_values_on_the_bounds_are_accepted(changes: dict[str, Any]) -> None:
    assert vitals_problems(vitals(**changes)) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"spo2": -1}, "spo2"),
        ({"spo2": 101}, "spo2"),
        ({"pulse": 19}, "pulse"),
        ({"pulse": 301}, "pulse"),
        (
            {"blood_pressure_systolic": 39, "blood_pressure_diastolic": 30},
            "blood_pressure_systolic",
        ),
        ({"blood_pressure_systolic": 301}, "blood_pressure_systolic"),
        ({"blood_pressure_diastolic": 9}, "blood_pressure_diastolic"),
        (
            {"blood_pressure_systolic": 250, "blood_pressure_diastolic": 201},
            "blood_pressure_diastolic",
        ),
        ({"respiratory_rate": 0}, "respiratory_rate"),
        ({"respiratory_rate": 81}, "respiratory_rate"),
        ({"temperature": Decimal("24.9"), "temperature_unit": "C"}, "temperature"),
        ({"temperature": Decimal("45.1"), "temperature_unit": "C"}, "temperature"),
        ({"temperature": Decimal("76.9"), "temperature_unit": "F"}, "temperature"),  # 24.9 °C
        ({"temperature": Decimal("113.1"), "temperature_unit": "F"}, "temperature"),  # 45.1 °C
        ({"temperature": Decimal("NaN"), "temperature_unit": "C"}, "temperature"),
        ({"temperature_unit": "K"}, "temperature_unit"),
        ({"temperature_unit": "f"}, "temperature_unit"),
        ({"consciousness": "X"}, "consciousness"),
        ({"consciousness": "a"}, "consciousness"),
        ({"consciousness": ""}, "consciousness"),
    ],
)
def test_values_just_outside_the_bounds_are_flagged(changes: dict[str, Any], field: str) -> None:
    # when
    problems = vitals_problems(vitals(**changes))

    # then exactly that field, with a message a person can read
    assert [p.field for p in problems] == [field]
    assert problems[0].message


def test_temperature_in_celsius_read_as_fahrenheit_is_flagged() -> None:
    # given 37.0 entered while the unit stays at the API's default, Fahrenheit (2.8 °C)
    problems = vitals_problems(vitals(temperature=Decimal("37.0"), temperature_unit="F"))

    # then
    assert [p.field for p in problems] == ["temperature"]
    assert "2.8 °C" in problems[0].message


@pytest.mark.parametrize(("systolic", "diastolic"), [(120, 120), (100, 110)])
def test_systolic_not_above_diastolic_is_flagged_on_diastolic(
    systolic: int, diastolic: int
) -> None:
    # when
    problems = vitals_problems(
        vitals(blood_pressure_systolic=systolic, blood_pressure_diastolic=diastolic)
    )

    # then
    assert problems == [
        VitalsProblem(
            "blood_pressure_diastolic",
            f"must be lower than the systolic pressure; got {diastolic} mmHg "
            f"with systolic {systolic} mmHg",
        )
    ]


def test_every_problem_is_reported_at_once() -> None:
    # given six impossible observations
    v = vitals(
        spo2=101,
        pulse=0,
        blood_pressure_systolic=30,
        blood_pressure_diastolic=40,
        respiratory_rate=0,
        temperature=Decimal("20.0"),
        consciousness="Z",
    )

    # when
    fields = problem_fields(v)

    # then
    assert sorted(fields) == sorted(
        [
            "spo2",
            "pulse",
            "blood_pressure_systolic",
            "blood_pressure_diastolic",
            "respiratory_rate",
            "temperature",
            "consciousness",
        ]
    )


def test_an_unknown_unit_is_reported_without_guessing_the_temperature() -> None:
    # given an unknown unit and a pulse out of range
    fields = problem_fields(vitals(temperature_unit="K", temperature=Decimal("500"), pulse=400))

    # then the temperature itself is not judged in a unit we cannot read
    assert sorted(fields) == ["pulse", "temperature_unit"]
