"""Every list endpoint refuses unknown filters and out-of-range numbers with 422 (contract §11a)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from config.api import api
from tests.conftest import World

HUGE = "52968399530396762112"  # > 2**63: overflowed the database's bigint before
# A fixed id for path parameters: xdist workers must collect the same test ids.
SOME_ID = "00000000-0000-4000-8000-000000000001"


def _list_paths() -> list[tuple[str, set[str]]]:
    """(path with ids filled in, query parameter names) of every GET that pages or filters."""
    schema = api.get_openapi_schema(path_prefix="/api/")
    found = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if get is None:
            continue
        query = {p["name"] for p in get.get("parameters", []) if p["in"] == "query"}
        if query & {"limit", "offset", "after"}:
            found.append((re.sub(r"\{[^}]+\}", SOME_ID, path), query))
    return found


LISTS = _list_paths()


def test_every_list_endpoint_is_found() -> None:
    # given the documented lists / when walked / then the well-known ones are among them
    paths = {p.replace(SOME_ID, "{id}") for p, _ in LISTS}
    assert {"/api/patients/", "/api/lab/samples/", "/api/tasks/", "/api/webhooks/"} <= paths
    assert len(LISTS) >= 14


def _assert_422(response: Any, field: str) -> None:
    assert response.status_code == 422, response.content
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert field in {d["field"] for d in body["details"]}


@pytest.mark.parametrize(("path", "query"), LISTS, ids=[p for p, _ in LISTS])
def test_list_refuses_unknown_filter(world: World, path: str, query: set[str]) -> None:
    # when a filter the endpoint does not have is sent
    response = world.api().get(path, {"state": "NY"})
    # then it is refused, naming the key, instead of being silently ignored
    _assert_422(response, "state")


@pytest.mark.parametrize(("path", "query"), LISTS, ids=[p for p, _ in LISTS])
def test_list_refuses_numbers_beyond_the_database_range(
    world: World, path: str, query: set[str]
) -> None:
    for name in query & {"offset", "after"}:
        # when a number beyond bigint is sent / then 422, not an overflow in the query
        _assert_422(world.api().get(path, {name: HUGE}), name)


def test_list_accepts_the_largest_offset_the_database_stores(world: World) -> None:
    # when / then
    response = world.api().get("/api/lab/samples/", {"offset": str(2**63 - 1)})
    assert response.status_code == 200, response.content
    assert response.json()["items"] == []


def test_list_still_accepts_its_own_filters(world: World) -> None:
    # when known filters and paging are sent / then they are served
    response = world.api().get("/api/patients/", {"search": "x", "limit": 5, "offset": 0})
    assert response.status_code == 200, response.content
