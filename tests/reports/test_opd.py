"""OPD report (contract §16) against figures computed here from the stored events."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hm_core.events.replay import rebuild
from tests.reports.agreed import agreed_events, publish_agreed
from tests.reports.conftest import events_of, percentile, report_rows, set_zone, walk_visit

URL = "/api/reports/opd/"
DAY1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def opd(rworld, clock):
    """Day 1: three closed visits (waits 10, 25, 40; doctor, doctor, admin), one cancelled;
    day 2: one closed (wait 7), one still waiting."""
    walk_visit(rworld, clock, check_in=DAY1, wait=10, visit=30, role="doctor")
    walk_visit(rworld, clock, check_in=DAY1.replace(hour=10), wait=25, visit=55, role="doctor")
    walk_visit(rworld, clock, check_in=DAY1.replace(hour=11), wait=40, visit=47.5)
    walk_visit(rworld, clock, check_in=DAY1.replace(hour=12), cancel=True)
    walk_visit(rworld, clock, check_in=DAY2, wait=7, visit=20, role="doctor")
    walk_visit(rworld, clock, check_in=DAY2.replace(hour=10))
    return rworld


def expected_by_day(world, zone: str = "UTC") -> dict[str, dict]:
    """The figures straight from the events: each visit's day is its check-in (else creation)."""
    tz = ZoneInfo(zone)
    visits: dict = defaultdict(dict)
    for e in events_of(
        world, "encounter.created", "encounter.checked_in", "encounter.consult_started",
        "encounter.closed", "encounter.cancelled",
    ):  # fmt: skip
        visits[e.payload["encounter_id"]][e.type] = e.occurred_at
    days: dict = defaultdict(lambda: {"n": 0, "closed": 0, "cancelled": 0, "w": [], "v": []})
    for v in visits.values():
        arrived = v.get("encounter.checked_in")
        on = (arrived or datetime.fromisoformat(str(v["encounter.created"]))).astimezone(tz)
        day = days[on.date().isoformat()]
        day["n"] += 1
        day["closed"] += "encounter.closed" in v
        day["cancelled"] += "encounter.cancelled" in v
        if "encounter.consult_started" in v:
            day["w"].append((v["encounter.consult_started"] - arrived).total_seconds() / 60)
        if "encounter.closed" in v:
            day["v"].append((v["encounter.closed"] - arrived).total_seconds() / 60)
    return {
        key: {
            "day": key, "encounters": d["n"], "closed": d["closed"], "cancelled": d["cancelled"],
            "no_shows": 0, "median_wait_minutes": percentile(d["w"], 0.5),
            "median_visit_minutes": percentile(d["v"], 0.5),
        }
        for key, d in sorted(days.items())
    }  # fmt: skip


def test_opd_by_day_equals_the_events(opd):
    r = opd.api("admin").get(URL, {"from": "2026-03-01", "to": "2026-03-31"})

    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["rows"] == list(expected_by_day(opd).values())
    assert body["rows"][0] == {
        "day": "2026-03-02", "encounters": 4, "closed": 3, "cancelled": 1, "no_shows": 0,
        "median_wait_minutes": 25.0, "median_visit_minutes": 47.5,
    }  # fmt: skip
    assert body["totals"] == {
        "encounters": 6, "closed": 4, "cancelled": 1, "no_shows": 0,
        "median_wait_minutes": 17.5, "median_visit_minutes": 38.75,
    }  # fmt: skip


def test_opd_by_practitioner_is_who_started_the_consult(opd):
    body = opd.api("auditor").get(URL, {"from": "2026-03-01", "to": "2026-03-31",
                                        "group_by": "practitioner"}).json()  # fmt: skip

    rows = {row["practitioner"]: row for row in body["rows"]}
    doctor, admin = str(opd.users["doctor"].id), str(opd.users["admin"].id)
    assert set(rows) == {doctor, admin, None}
    assert (rows[doctor]["encounters"], rows[doctor]["median_wait_minutes"]) == (3, 10.0)
    assert (rows[admin]["encounters"], rows[admin]["median_visit_minutes"]) == (1, 47.5)
    assert (rows[None]["encounters"], rows[None]["cancelled"]) == (2, 1)
    assert list(rows)[-1] is None  # nobody yet sorts last


def test_opd_range_is_inclusive_whole_days(opd):
    body = opd.api().get(URL, {"from": "2026-03-03", "to": "2026-03-03"}).json()

    assert [row["day"] for row in body["rows"]] == ["2026-03-03"]
    assert body["totals"]["encounters"] == 2


def test_opd_day_boundaries_follow_the_facility_zone_across_dst(rworld, clock):
    # given London: 29 March 2026 has 23 hours (01:00 GMT → 02:00 BST)
    set_zone(rworld.main, "Europe/London")
    walk_visit(rworld, clock, check_in=datetime(2026, 3, 28, 23, 30, tzinfo=UTC), wait=5, visit=9)
    walk_visit(rworld, clock, check_in=datetime(2026, 3, 29, 0, 30, tzinfo=UTC), wait=5, visit=9)
    walk_visit(rworld, clock, check_in=datetime(2026, 3, 29, 22, 59, tzinfo=UTC), wait=5, visit=9)
    walk_visit(rworld, clock, check_in=datetime(2026, 3, 29, 23, 30, tzinfo=UTC), wait=5, visit=9)

    # when
    body = rworld.api().get(URL, {"from": "2026-03-28", "to": "2026-03-30"}).json()
    only29 = rworld.api().get(URL, {"from": "2026-03-29", "to": "2026-03-29"}).json()

    # then 23:30 UTC on the 29th is 00:30 BST on the 30th
    counts = {row["day"]: row["encounters"] for row in body["rows"]}
    assert counts == {"2026-03-28": 1, "2026-03-29": 2, "2026-03-30": 1}
    assert counts == {
        k: v["encounters"] for k, v in expected_by_day(rworld, "Europe/London").items()
    }
    assert only29["totals"]["encounters"] == 2


def test_opd_csv_equals_json(opd):
    api = opd.api()
    params = {"from": "2026-03-01", "to": "2026-03-31", "group_by": "practitioner"}
    as_json = api.get(URL, params).json()["rows"]

    by_param = api.get(URL, {**params, "format": "csv"})
    by_accept = api.get(URL, params, headers={"Accept": "text/csv"})

    assert by_param["Content-Type"].startswith("text/csv")
    assert by_param.content == by_accept.content
    parsed = list(csv.DictReader(io.StringIO(by_param.content.decode())))
    assert parsed == [{k: "" if v is None else str(v) for k, v in row.items()} for row in as_json]


def test_opd_rebuild_leaves_the_report_unchanged(opd):
    api = opd.api()
    before_rows = report_rows(opd.tenant.id)
    before = api.get(URL, {"from": "2026-03-01", "to": "2026-03-31"}).json()

    rebuild(["reports"], tenant_ids=[opd.tenant.id])

    assert report_rows(opd.tenant.id) == before_rows
    assert api.get(URL, {"from": "2026-03-01", "to": "2026-03-31"}).json() == before


def test_opd_is_isolated_by_facility_and_tenant(opd, other_world):
    params = {"from": "2026-03-01", "to": "2026-03-31"}
    annex = opd.api("admin", facility=opd.annex).get(URL, params).json()
    rival = other_world.api("admin").get(URL, params).json()

    for body in (annex, rival):
        assert body["rows"] == []
        assert body["totals"]["encounters"] == 0


@pytest.mark.parametrize("role", ["doctor", "billing_clerk", "receptionist"])
def test_opd_needs_reports_view(opd, role):
    r = opd.api(role).get(URL)

    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-05", "to": "2026-03-01"},
        {"from": "not-a-date"},
        {"group_by": "week"},
        {"colour": "blue"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ],
)
def test_opd_bad_query_is_422(opd, params):
    r = opd.api().get(URL, params)

    assert r.status_code == 422, r.json()
    assert r.json()["error"]["code"] == "validation_error"


def test_opd_counts_no_shows_per_day_and_practitioner(rworld, clock):
    # given a visit the doctor saw, and two no-shows of the nurse's appointments: day 1 and 2
    # (an appointment check-in also names the visit's practitioner: that path runs through the
    # scheduling policy and is not covered by this test)
    nurse, doctor, scope = rworld.users["nurse"], rworld.users["doctor"], rworld.scope("admin")
    walk_visit(rworld, clock, check_in=DAY1, wait=10, visit=30, role="doctor")
    with agreed_events("appointment.marked_no_show"):
        for start in (DAY1.replace(hour=15), DAY2.replace(hour=15)):
            appointment = uuid.uuid4()
            payload = {"appointment_id": appointment, "patient_id": uuid.uuid4(),
                       "practitioner_id": nurse.id, "start": start,
                       "end": start + timedelta(minutes=15)}  # fmt: skip
            publish_agreed(
                scope, "appointment.marked_no_show", stream=("appointment", appointment), **payload
            )

        # when
        api, params = rworld.api(), {"from": "2026-03-01", "to": "2026-03-31"}
        by_day = api.get(URL, params).json()
        by_who = api.get(URL, {**params, "group_by": "practitioner"}).json()
        before = report_rows(rworld.tenant.id)
        rebuild(["reports"], tenant_ids=[rworld.tenant.id])
        assert report_rows(rworld.tenant.id) == before

    # then
    assert [(r["day"], r["encounters"], r["no_shows"]) for r in by_day["rows"]] == [
        ("2026-03-02", 1, 1),
        ("2026-03-03", 0, 1),
    ]
    assert by_day["totals"]["no_shows"] == 2
    assert sorted(
        (r["practitioner"], r["encounters"], r["no_shows"]) for r in by_who["rows"]
    ) == sorted([(str(doctor.id), 1, 0), (str(nurse.id), 0, 2)])
