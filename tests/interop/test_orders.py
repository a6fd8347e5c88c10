"""ORM^O01 / OML^O21 over `POST /api/interop/hl7/` (contract §11), with real messages."""

from __future__ import annotations

from hm_core.common.scope import scope_active
from hm_core.interop.models import Message
from hm_core.orders.models import Order, OrderItem
from tests.interop.conftest import er7, hl7_fixture
from tests.interop.lab_helpers import (
    add_service,
    err,
    event_count,
    msa,
    open_encounter,
    orders_of,
    post,
    seed,
)

MSH_ORM = "MSH|^~\\&|OE|HOSP|HM|HOSP|20260102030405||ORM^O01|{control_id}|P|2.5.1"
NBS = [("SQ", "57718-9", "{code}", None, None, None, None)]


def orm(control_id: str, control: str, placer: str, *obr_codes: str, mrn: str = "MRN-1") -> bytes:
    obrs = [f"OBR|{n}|{placer}||{code}" for n, code in enumerate(obr_codes, start=1)]
    return er7(
        MSH_ORM.format(control_id=control_id),
        f"PID|1||{mrn}^^^HOSP^MR",
        f"ORC|{control}|{placer}|||||^^^^^S",
        *obrs,
    )


def items_of(world, order: Order) -> list[OrderItem]:
    with scope_active(world.scope("admin")):
        return list(OrderItem.objects.for_scope(world.scope("admin")).filter(order_id=order.id))


def test_fixture_orm_v23_places_a_cbc_on_the_visit_number_encounter(world):
    # given the starter catalog's CBC known by LOINC 24317-0 at this site, and the patient
    seed(world)
    add_service(world, "HEMOGRAM", "24317-0", [("PLT", "777-3", "10*9/L", None, None, None, None)])
    enc = open_encounter(world, "10006579")

    # when the real ORM^O01 (BOM, LF separators, PV1-19 unknown here) arrives
    _, ack = post(world, hl7_fixture("fc_orm_o01_v23_lab.hl7"))

    # then AA, and a LAB order on the patient's open encounter with the placer number
    assert msa(ack) == "AA", str(ack)
    (order,) = orders_of(world)
    assert (order.placer_order_number, order.order_type, order.priority) == (
        "88502218",
        "LAB",
        "ROUTINE",
    )
    assert order.encounter_id == enc.id and order.ordered_by == "integration@acme"
    assert [i.service_code for i in items_of(world, order)] == ["HEMOGRAM"]


def test_fixture_oml_v26_lipid_matches_by_loinc_and_is_routine_from_tq1_9(world):
    seed(world)  # LIPID carries LOINC 57698-3
    enc = open_encounter(world, "PATID1234")
    _, ack = post(world, hl7_fixture("fc_oml_o21_v26_lipid.hl7"))
    assert msa(ack) == "AA", str(ack)
    (order,) = orders_of(world)
    # OBR-25 `S` is a result status (partial), not a priority: TQ1-9 `R` says routine
    assert (order.placer_order_number, order.priority, order.encounter_id) == (
        "1101",
        "ROUTINE",
        enc.id,
    )
    assert [i.service_code for i in items_of(world, order)] == ["LIPID"]


def test_fixture_linked_order_v251_with_an_8859_charset(world):
    seed(world)
    add_service(world, "NBS", "54089-8", NBS, specimen="dried_blood_spot")
    open_encounter(world, "1300974")
    _, ack = post(world, hl7_fixture("ti_orm_o01_v251_linked_order.hl7"))
    assert msa(ack) == "AA", str(ack)
    (order,) = orders_of(world)
    assert order.placer_order_number == "4560411583"


def test_the_same_placer_number_again_is_ae_205(world):
    seed(world)
    open_encounter(world, "MRN-1")
    assert msa(post(world, orm("C1", "NW", "P-1", "K"))[1]) == "AA"
    _, ack = post(world, orm("C2", "NW", "P-1", "NA"))
    assert msa(ack) == "AE" and err(ack) == ("205", "ORC^1^2")
    assert len(orders_of(world)) == 1


def test_unknown_service_code_is_ae_204_with_nothing_written(world):
    # given a patient with an open encounter and no service ZZZ in the catalog
    seed(world)
    open_encounter(world, "MRN-1")
    before = event_count(world)
    raw = orm("C1", "NW", "P-9", "K", "ZZZ^Unknown^L")

    # when the order arrives
    _, ack = post(world, raw)

    # then AE 204 names the second OBR's OBR-4, and nothing but the log row is written
    assert msa(ack) == "AE" and err(ack) == ("204", "OBR^2^4")
    assert orders_of(world) == [] and event_count(world) == before
    with scope_active(world.scope("admin")):
        assert not OrderItem.objects.for_scope(world.scope("admin")).exists()
    row = Message.objects.get(control_id="C1")
    assert row.status == "ERROR" and bytes(row.raw) == raw and "ZZZ" in row.error


def test_unknown_patient_and_no_open_encounter_are_ae_204(world):
    seed(world)
    _, ack = post(world, orm("C1", "NW", "P-1", "K", mrn="NOBODY"))
    assert msa(ack) == "AE" and err(ack) == ("204", "PID^1^3")
    open_encounter(world, "MRN-2", stage="CLOSED")
    _, ack = post(world, orm("C2", "NW", "P-1", "K", mrn="MRN-2"))
    assert msa(ack) == "AE" and err(ack) == ("204", "PV1^1^19")


def test_mixed_order_types_are_refused(world):
    seed(world)
    open_encounter(world, "MRN-1")
    _, ack = post(world, orm("C1", "NW", "P-1", "K", "CXR"))
    assert msa(ack) == "AE" and err(ack) == ("103", "OBR^2^4")


def test_ca_cancels_the_order_with_that_placer_number(world):
    seed(world)
    open_encounter(world, "MRN-1")
    assert msa(post(world, orm("C1", "NW", "P-7", "K"))[1]) == "AA"
    _, ack = post(world, orm("C2", "CA", "P-7", "K"))
    assert msa(ack) == "AA", str(ack)
    (order,) = orders_of(world)
    assert order.status == "CANCELLED" and "ORC-1 CA" in order.cancel_reason
    assert order.priority == "STAT"  # ORC-7.6 (TQ priority) `S`
    _, ack = post(world, orm("C3", "CA", "P-unknown", "K"))
    assert msa(ack) == "AE" and err(ack) == ("204", "ORC^1^2")


def test_malformed_dtm_fixture_is_ae_102_with_nothing_written(world):
    # given the newborn screening panel is orderable, so only the bad date can refuse it
    seed(world)
    add_service(world, "NBS", "54089-8", NBS, specimen="dried_blood_spot")
    open_encounter(world, "1300974")
    before = event_count(world)
    _, ack = post(world, hl7_fixture("ti_malformed_orm_bad_dtm.hl7"))
    assert msa(ack) == "AE" and err(ack) == ("102", "OBX^1^5")
    assert orders_of(world) == [] and event_count(world) == before


def test_orders_are_tenant_isolated(world, other_world):
    seed(world)
    seed(other_world)
    open_encounter(world, "MRN-1")
    assert msa(post(world, orm("C1", "NW", "P-1", "K"))[1]) == "AA"
    # the other tenant knows neither the placer number nor the patient
    _, ack = post(other_world, orm("C1", "CA", "P-1", "K"))
    assert msa(ack) == "AE" and err(ack) == ("204", "ORC^1^2")
    _, ack = post(other_world, orm("C2", "NW", "P-2", "K"))
    assert msa(ack) == "AE" and err(ack) == ("204", "PID^1^3")
    assert orders_of(other_world) == [] and orders_of(world)[0].status == "PLACED"
