"""Lab turnaround report (contract §16) against figures computed here from the stored events."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from hm_core.events.replay import rebuild
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import (
    K_CRITICAL,
    K_NORMAL,
    enter,
    item_of,
    place_order,
    receive,
    samples_of,
)
from tests.reports.conftest import events_of, percentile, report_rows

URL = "/api/reports/lab-turnaround/"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CRP = {"value": 48, "unit": "mg/L"}


def released_test(world, clock, encounter, code, payload, *, placed, minutes):
    """Ordered at `placed`, received, entered, verified, released `minutes` after the order."""
    doctor, tech, tech2 = world.api("doctor"), world.api("lab_tech"), world.api("lab_tech2")
    clock.at(placed)
    order = place_order(doctor, encounter, code)
    for sample in samples_of(tech, order):
        receive(tech, sample)
    result = enter(tech, item_of(order, code)["id"], payload).json()
    assert tech2.post(f"/api/lab/results/{result['id']}/verify/").status_code == 200
    clock.at(placed + timedelta(minutes=minutes))
    r = tech.post(f"/api/lab/results/{result['id']}/release/")
    assert r.status_code == 200, r.json()
    return result


@pytest.fixture
def lab(rworld, clock):
    """K: 30, 45, 90 (the 90 critical) minutes; CRP: 20, 60 minutes; a CRP still pending."""
    enc = make_encounter(rworld, "CHECKED_IN")
    for minutes, payload in ((30, K_NORMAL), (45, K_NORMAL), (90, K_CRITICAL)):
        released_test(rworld, clock, enc, "K", payload, placed=T0, minutes=minutes)
    released_test(rworld, clock, enc, "CRP", CRP, placed=T0, minutes=20)
    released_test(rworld, clock, enc, "CRP", CRP, placed=T0 + timedelta(days=1), minutes=60)
    clock.at(T0)
    place_order(rworld.api("doctor"), enc, "CRP")
    return rworld


def expected(world) -> list[dict]:
    placed, rows = {}, defaultdict(lambda: {"m": [], "critical": 0})
    for e in events_of(world, "order.placed", "lab.result_released"):
        if e.type == "order.placed":
            placed.update({item["item_id"]: e.occurred_at for item in e.payload["items"]})
            continue
        row = rows[e.payload["service_code"]]
        row["m"].append((e.occurred_at - placed[e.payload["order_item_id"]]).total_seconds() / 60)
        row["critical"] += e.payload["is_critical"]
    return [
        {"service_code": code, "results": len(r["m"]), "median_minutes": percentile(r["m"], 0.5),
         "p90_minutes": percentile(r["m"], 0.9), "critical": r["critical"]}
        for code, r in sorted(rows.items())
    ]  # fmt: skip


def test_lab_turnaround_equals_the_events(lab):
    body = lab.api("auditor").get(URL, {"from": "2026-03-01", "to": "2026-03-31"}).json()

    assert body["rows"] == expected(lab)
    assert body["rows"] == [
        {"service_code": "CRP", "results": 2, "median_minutes": 40.0, "p90_minutes": 56.0,
         "critical": 0},
        {"service_code": "K", "results": 3, "median_minutes": 45.0, "p90_minutes": 81.0,
         "critical": 1},
    ]  # fmt: skip
    assert body["totals"] == {
        "results": 5, "median_minutes": 45.0, "p90_minutes": 78.0, "critical": 1,
    }  # fmt: skip


def test_lab_turnaround_counts_a_result_on_the_day_it_was_released(lab):
    body = lab.api().get(URL, {"from": "2026-03-03", "to": "2026-03-03"}).json()

    assert body["rows"] == [
        {"service_code": "CRP", "results": 1, "median_minutes": 60.0, "p90_minutes": 60.0,
         "critical": 0},
    ]  # fmt: skip


def test_lab_turnaround_csv_equals_json_and_rebuild_changes_nothing(lab):
    api, params = lab.api(), {"from": "2026-03-01", "to": "2026-03-31"}
    as_json = api.get(URL, params).json()
    before = report_rows(lab.tenant.id)

    rebuild(["reports"], tenant_ids=[lab.tenant.id])

    assert report_rows(lab.tenant.id) == before
    assert api.get(URL, params).json() == as_json
    text = api.get(URL, params, headers={"Accept": "text/csv"}).content.decode()
    assert list(csv.DictReader(io.StringIO(text))) == [
        {k: str(v) for k, v in row.items()} for row in as_json["rows"]
    ]


def test_lab_turnaround_is_isolated(lab, other_world):
    params = {"from": "2026-03-01", "to": "2026-03-31"}
    for api in (lab.api("admin", facility=lab.annex), other_world.api("admin")):
        body = api.get(URL, params).json()
        assert body == {
            "rows": [],
            "totals": {"results": 0, "median_minutes": None, "p90_minutes": None, "critical": 0},
        }
