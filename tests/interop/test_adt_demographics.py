"""ADT PID-5 and PID-11 into the structured name and address (contract §11, §11a)."""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.interop.test_adt import _a04, _address, _err, _msa, _patients, _post

PV1 = "PV1|1|O|||||||||||||||||V-1"


def _admit(world: World, *, name: str = "Doe^Jane^Q", address: str = "") -> tuple[str, object]:
    pid = f"PID|1||MRN-D^^^HOSP^MR||{name}||19800101|F|||{address}"
    _, ack = _post(world, _a04("C-D", pid=pid, pv1=PV1))
    return _msa(ack), ack


@pytest.mark.parametrize(
    ("xad", "expected"),
    [
        pytest.param(
            "1 Main St^^Springfield^IL^627010001^USA",
            _address("1 Main St", "", "Springfield", "IL", "62701-0001", "US"),
            id="usa-zip9-gets-its-hyphen",
        ),
        pytest.param(
            "1 Rue X^^Paris^^75001^FR",
            _address("1 Rue X", "", "Paris", "", "75001", "FR"),
            id="alpha2-as-is",
        ),
        pytest.param(
            "1 Bay St^^Toronto^ON^M5J 2N8^CAN",
            _address("1 Bay St", "", "Toronto", "ON", "M5J 2N8", ""),
            id="other-alpha3-unknown-country",
        ),
    ],
)
def test_pid11_becomes_the_structured_address(world: World, xad: str, expected: dict) -> None:
    code, _ = _admit(world, address=xad)

    assert code == "AA"
    assert _patients(world).get().address == expected


@pytest.mark.parametrize(
    "xad",
    [
        pytest.param("1 Main St^^Springfield^ZZ^62701^US", id="us-state-unknown"),
        pytest.param("1 Main St^^Springfield^IL^6270^US", id="us-zip-short"),
        pytest.param("1 Main St^^Springfield^IL^62701^XX", id="country-not-iso"),
    ],
)
def test_pid11_breaking_the_address_rules_is_ae_102_at_pid11(world: World, xad: str) -> None:
    code, ack = _admit(world, address=xad)

    assert code == "AE"
    assert _err(ack) == ("102", "PID^1^11")  # type: ignore[arg-type]
    assert not _patients(world).exists()


def test_pid5_without_family_name_is_split_by_the_registrar_rule(world: World) -> None:
    code, _ = _admit(world, name="^Baby Girl")

    assert code == "AA"
    patient = _patients(world).get()
    assert (patient.full_name, patient.given_name, patient.family_name) == (
        "Baby Girl",
        "Baby",
        "Girl",
    )


def test_pid5_family_name_only_registers_with_an_empty_given_name(world: World) -> None:
    code, _ = _admit(world, name="Doe")

    assert code == "AA"
    patient = _patients(world).get()
    assert (patient.full_name, patient.given_name, patient.family_name) == ("Doe", "", "Doe")
