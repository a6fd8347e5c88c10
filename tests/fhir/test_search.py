"""FHIR search: searchset Bundles, cursor paging, unknown parameters, errors, isolation."""

from __future__ import annotations

import contextlib

import pytest
from django.db import connection

from hm_core.fhir.validation import validate
from tests.conftest import Api
from tests.encounters.conftest import make_encounter
from tests.fhir.conftest import FHIR
from tests.patients.factories import register_patient
from tests.statements import statements_sent


def _ok(response):
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body)
    return body


def _next(body):
    links = {link["relation"]: link["url"] for link in body["link"]}
    return links.get("next")


def test_metadata_lists_the_registered_types_without_a_token(anonymous):
    # when
    body = _ok(anonymous.client.get(f"{FHIR}/metadata"))
    # then
    assert body["fhirVersion"] == "4.0.1"
    types = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert {"Patient", "Encounter", "Observation", "DiagnosticReport"} <= set(types)
    assert {p["name"] for p in types["Patient"]["searchParam"]} >= {"family", "phone", "email"}
    assert anonymous.client.get(f"{FHIR}/metadata/").status_code == 200


def test_search_pages_with_opaque_cursors_and_neither_skips_nor_repeats_under_writes(world):
    # given
    api = world.api()
    for i in range(7):
        register_patient(api, full_name=f"Page Person{i}")
    seen: list[str] = []
    # when
    body = _ok(api.get(f"{FHIR}/Patient", {"family": "Person", "_count": "3"}))
    assert body["total"] == 7
    seen += [e["resource"]["id"] for e in body["entry"]]
    register_patient(api, full_name="Late Person")  # a write between pages
    while (url := _next(body)) is not None:
        body = _ok(api.client.get(url, headers=api.headers))
        seen += [e["resource"]["id"] for e in body["entry"]]
    # then
    assert len(seen) == len(set(seen))
    assert len(seen) in (7, 8)


def test_count_is_capped_at_200_and_defaults_to_50(world):
    api = world.api()
    register_patient(api)
    body = _ok(api.get(f"{FHIR}/Patient", {"_count": "5000"}))
    assert body["total"] == 1
    assert _ok(api.get(f"{FHIR}/Patient"))["total"] == 1
    assert api.get(f"{FHIR}/Patient", {"_count": "abc"}).status_code == 400


def test_unknown_parameters_are_reported_in_an_outcome_entry_and_400_when_strict(world):
    api = world.api()
    register_patient(api, full_name="Ann Known")
    # when
    body = _ok(api.get(f"{FHIR}/Patient", {"shoe-size": "42", "family": "Known"}))
    strict = api.get(f"{FHIR}/Patient", {"shoe-size": "42"}, headers={"Prefer": "handling=strict"})
    # then
    outcome = [e for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome[0]["resource"]["issue"][0]["expression"] == ["shoe-size"]
    assert body["total"] == 1
    assert strict.status_code == 400
    assert strict.json()["resourceType"] == "OperationOutcome"


def test_post_search_takes_form_encoded_parameters(world):
    api = world.api()
    p = register_patient(api, full_name="Form Sender", email="form@example.org")
    r = api.client.post(
        f"{FHIR}/Patient/_search",
        data="email=FORM%40example.org",
        content_type="application/x-www-form-urlencoded",
        headers=api.headers,
    )
    body = _ok(r)
    assert [e["resource"]["id"] for e in body["entry"]] == [p["id"]]


def test_patient_search_parameters(world):
    api = world.api()
    p = register_patient(
        api, full_name=None, given_name="Zed", family_name="Quux", phone="+1555000",
        date_of_birth="1971-02-03", gender="M",
    )  # fmt: skip
    register_patient(api, full_name="Other Body", gender="F")
    for query in (
        {"family": "quu"},
        {"given": "Zed"},
        {"name": "Qu"},
        {"phone": "+1555000"},
        {"birthdate": "1971-02-03"},
        {"birthdate": "lt1972"},
        {"gender": "male"},
        {"identifier": f"urn:hm-core:mrn|{p['mrn']}"},
        {"_id": p["id"]},
    ):
        body = _ok(api.get(f"{FHIR}/Patient", query))
        assert [e["resource"]["id"] for e in body["entry"]] == [p["id"]], query


def test_errors_are_operation_outcomes(world, anonymous):
    api = world.api()
    cases = [
        (anonymous.client.get(f"{FHIR}/Patient"), 401),
        (Api(world.users["admin"], None, None).get(f"{FHIR}/Patient"), 400),
        (api.get(f"{FHIR}/Patient/not-a-uuid"), 404),
        (api.get(f"{FHIR}/Spaceship"), 404),
        (api.get(f"{FHIR}/Patient", {"_cursor": "%%%"}), 400),
        (api.get(f"{FHIR}/Patient", {"birthdate": "yesterday"}), 400),
        (world.api("receptionist").get(f"{FHIR}/Observation"), 403),
    ]
    for response, status in cases:
        assert response.status_code == status, response.content
        body = response.json()
        validate(body)
        assert body["resourceType"] == "OperationOutcome"


def test_another_tenant_or_facility_is_404_and_never_in_a_search(world, other_world):
    # given
    encounter = make_encounter(world, "CHECKED_IN")
    rival, annex = other_world.api(), world.api("admin", facility=world.annex)
    # then
    assert rival.get(f"{FHIR}/Patient/{encounter.patient_id}").status_code == 404
    assert rival.get(f"{FHIR}/Patient/{encounter.patient_id}/_history/1").status_code == 404
    assert annex.get(f"{FHIR}/Encounter/{encounter.id}").status_code == 404
    assert annex.get(f"{FHIR}/Encounter/{encounter.id}/_history").status_code == 404
    assert _ok(rival.get(f"{FHIR}/Patient"))["total"] == 0
    assert _ok(annex.get(f"{FHIR}/Encounter", {"patient": str(encounter.patient_id)}))["total"] == 0


def test_search_query_count_does_not_grow_with_the_page(world, django_assert_max_num_queries):
    api = world.api()
    for _ in range(3):
        make_encounter(world, "VITALS")
    with django_assert_max_num_queries(30):
        small = _ok(api.get(f"{FHIR}/Observation", {"_count": "2"}))
    for _ in range(6):
        make_encounter(world, "VITALS")
    with django_assert_max_num_queries(30):
        body = _ok(api.get(f"{FHIR}/Observation", {"_count": "40", "category": "vital-signs"}))
    assert len(body["entry"]) == 40
    assert small["total"] == 15


@pytest.mark.parametrize(
    ("resource_type", "query"),
    [
        ("Patient", {}),
        ("Encounter", {}),
        ("ServiceRequest", {}),
        ("DocumentReference", {}),
        ("Task", {}),
        ("DiagnosticReport", {}),
        ("Observation", {"category": "laboratory"}),
        ("Condition", {}),
    ],
)
def test_search_queries_do_not_grow_with_the_page(lab_world, resource_type, query):
    # given a few of everything, then many more
    from tests.fhir.conftest import released_k_result
    from tests.fhir.test_transaction import bundle, post

    api = lab_world.api()

    def grow(n: int) -> None:
        for _ in range(n):
            released_k_result(lab_world)

    grow(1)
    post(api, bundle("desmond_gutmann.json"))
    with _counted() as small:
        _ok(api.get(f"{FHIR}/{resource_type}", {**query, "_count": "200"}))
    assert 0 < small[0] <= 40
    grow(4)
    post(api, bundle("fabian_yundt.json"))
    # then the same number of statements serves the bigger page
    with _counted() as big:
        body = _ok(api.get(f"{FHIR}/{resource_type}", {**query, "_count": "200"}))
    assert big[0] <= small[0], (big[0], small[0])
    assert body["total"] == len([e for e in body["entry"] if e["search"]["mode"] == "match"])


@contextlib.contextmanager
def _counted():
    """Count the statements run (the query log is a bounded deque: long tests overflow it)."""
    count = [0]

    def counter(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        yield count


def test_a_first_page_holding_every_match_is_its_own_total_and_sends_no_count(world):
    # given 4 patients of one family
    api = world.api()
    for i in range(4):
        register_patient(api, full_name=f"Tally Counter{i}")
    # when every match fits on the first page, then when it does not
    with statements_sent() as sent:
        whole = _ok(api.get(f"{FHIR}/Patient", {"family": "Counter"}))
    one_page_counts = [sql for sql in sent if "COUNT(" in sql.upper()]
    first = _ok(api.get(f"{FHIR}/Patient", {"family": "Counter", "_count": "3"}))
    last = _ok(api.client.get(_next(first), headers=api.headers))
    # then the whole result counts itself, and a paged one counts every match on each page
    assert (whole["total"], len(whole["entry"]), one_page_counts) == (4, 4, [])
    assert (first["total"], last["total"], len(last["entry"])) == (4, 4, 1)
