"""Timeline paging over 10,000+ events: constant queries per page, stable order, no gaps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.encounters.services import encounter_create
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.patients.services import patient_register
from tests.events.sample_events import SampleNoted

NOTES = 10_000
BATCH = 1_000


@pytest.fixture
def busy_encounter(world):
    """An encounter with 10,000 notes on its timeline (appended through the real bus)."""
    scope = world.scope("doctor")
    patient = patient_register(
        scope=scope,
        demographics={
            "full_name": "Busy Bee",
            "mrn": "BUSY-1",
            "date_of_birth": datetime(1970, 1, 1, tzinfo=UTC).date(),
            "gender": "U",
            "phone": "",
            "email": "",
            "address": "",
        },
    )
    encounter = encounter_create(
        scope=scope,
        patient_id=patient.id,
        reason="long stay",
        scheduled_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    stream = StreamRef("sample", encounter.id)
    for start in range(0, NOTES, BATCH):
        events = [
            SampleNoted(encounter_id=encounter.id, patient_id=patient.id, n=n)
            for n in range(start, start + BATCH)
        ]
        publish(scope=scope, stream=stream, expected_version=None, events=events)
    return encounter


def _page(api, encounter_id, after, limit=200):
    with CaptureQueriesContext(connection) as queries:
        response = api.get(
            f"/api/encounters/{encounter_id}/timeline/", {"after": after, "limit": limit}
        )
    assert response.status_code == 200, response.json()
    return response.json(), len(queries)


def test_paging_ten_thousand_events_is_complete_ordered_and_constant_cost(world, busy_encounter):
    # given
    api = world.api("doctor")
    # when
    positions: list[int] = []
    costs: set[int] = set()
    after = 0
    while True:
        body, cost = _page(api, busy_encounter.id, after)
        positions += [item["position"] for item in body["items"]]
        costs.add(cost)
        if body["next"] is None:
            break
        after = body["next"]
    # then: every event once, in order, with no gap; every page cost the same
    assert len(positions) == NOTES + 1  # encounter.created + the notes
    assert positions == sorted(set(positions))
    assert positions == list(range(positions[0], positions[0] + NOTES + 1))
    assert len(costs) == 1, costs
    # and a deep page costs what the first one costs (one index range scan from the cursor)
    first, first_cost = _page(api, busy_encounter.id, 0, limit=50)
    deep, deep_cost = _page(api, busy_encounter.id, first["items"][0]["position"] + 9_000, limit=50)
    assert first_cost == deep_cost
    assert [i["summary"] for i in deep["items"][:2]] == ["Note 9000", "Note 9001"]
