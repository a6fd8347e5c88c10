"""The `/reports/` dashboard: session sign-in, facility choice, the three charts; rendered by
headless Chromium (Debian's `chromium`) and its screenshot checked for the charts' colours."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests.billing.conftest import place
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import K_NORMAL
from tests.reports.conftest import walk_visit
from tests.reports.test_lab import released_test

DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DATES = {"from": "2026-03-01", "to": "2026-03-10"}


def period(world, facility=None):
    """The query of the main facility's dashboard over 1-10 March 2026."""
    return {**DATES, "facility": str((facility or world.main).id)}


# The fills the dashboard's stylesheet gives each chart's bars (base.html).
OPD_BLUE, LAB_GREEN, BILLED_ORANGE = (0x2B, 0x6C, 0xB0), (0x2F, 0x85, 0x5A), (0xC0, 0x56, 0x21)


@pytest.fixture
def activity(rworld, clock):
    for day in range(3):
        for n in range(day + 1):
            at = DAY + timedelta(days=day, hours=n)
            walk_visit(rworld, clock, check_in=at, wait=5 + n, visit=20 + n, role="doctor")
    enc = make_encounter(rworld, "CHECKED_IN")
    released_test(rworld, clock, enc, "K", K_NORMAL, placed=DAY, minutes=42)
    clock.at(DAY)
    place(rworld, enc, "CBC")
    return rworld


def signed_in(world, role: str) -> Client:
    client = Client()
    client.force_login(world.users[role])
    return client


def test_the_dashboard_asks_for_a_session(activity):
    r = Client().get("/reports/", period(activity))

    assert r.status_code == 302
    assert r["Location"].startswith("/reports/login/")


def test_sign_in_with_username_and_password(activity):
    client = Client()
    bad = client.post("/reports/login/", {"username": "admin@acme", "password": "nope"})
    good = client.post(
        "/reports/login/", {"username": "admin@acme", "password": "pw-for-tests-123"}
    )

    assert bad.status_code == 200
    assert b"Wrong username or password" in bad.content
    assert good.status_code == 302
    assert client.get("/reports/", period(activity)).status_code == 200


def test_sign_in_is_locked_after_too_many_failures(activity, settings):
    settings.HM_LOGIN_MAX_FAILURES = 2
    client = Client()
    for _ in range(2):
        client.post("/reports/login/", {"username": "admin@acme", "password": "nope"})

    r = client.post("/reports/login/", {"username": "admin@acme", "password": "pw-for-tests-123"})

    assert r.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_dashboard_shows_three_charts_of_the_facility(activity):
    r = signed_in(activity, "admin").get("/reports/", period(activity))

    assert r.status_code == 200
    html = r.content.decode()
    for css in ("chart-opd", "chart-lab", "chart-revenue"):
        assert f'class="chart {css}"' in html
    assert html.count('class="bar bar-opd"') == 3  # 2, 3 and 4 March (the lab visit: the 4th)
    assert "<title>2026-03-04: 4</title>" in html
    assert "<title>K median: 42</title>" in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")


def test_the_dashboard_shows_only_the_chosen_facility(activity):
    r = signed_in(activity, "admin").get("/reports/", period(activity, activity.annex))

    html = r.content.decode()
    assert r.status_code == 200
    assert 'class="chart chart-opd empty"' in html
    assert "0 encounters" in html


@pytest.mark.parametrize("role", ["doctor", "billing_clerk"])
def test_the_dashboard_needs_reports_view(activity, role):
    r = signed_in(activity, role).get("/reports/")

    assert r.status_code == 403
    assert b"reports.view" in r.content


def test_the_chosen_facility_is_remembered_in_the_session(activity):
    client = signed_in(activity, "admin")
    client.get("/reports/", period(activity, activity.annex))

    r = client.get("/reports/", DATES)

    assert f'value="{activity.annex.id}" selected' in r.content.decode()


def test_an_auditor_may_see_the_dashboard(activity):
    assert signed_in(activity, "auditor").get("/reports/", period(activity)).status_code == 200


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_the_dashboard_renders_in_headless_chromium(activity, tmp_path):
    from PIL import Image

    # given the page as the server renders it (self-contained: no script, no remote asset)
    page = tmp_path / "dashboard.html"
    page.write_bytes(signed_in(activity, "admin").get("/reports/", period(activity)).content)
    shot = tmp_path / "dashboard.png"

    # when Chromium renders it
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    subprocess.run(  # noqa: S603 - fixed arguments, a file we wrote
        [*common, f"--screenshot={shot}", "--window-size=800,1400", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    dom = subprocess.run(  # noqa: S603
        [*common, "--dump-dom", page.as_uri()],
        check=True, capture_output=True, timeout=120, text=True,
    ).stdout  # fmt: skip

    # then the DOM holds the three charts and the screenshot shows each one's bars
    assert dom.count("<svg") >= 3 and 'class="bar bar-opd"' in dom
    colours = {rgb for _, rgb in Image.open(shot).convert("RGB").getcolors(1 << 20)}
    for colour in (OPD_BLUE, LAB_GREEN, BILLED_ORANGE):
        assert colour in colours, f"no {colour} in the screenshot"
