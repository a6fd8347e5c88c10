"""Embedded mode (no broker): a reminder due at booking is sent by a thread of the process
right after the commit, with nobody running a worker."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from hm_core.notifications.models import Notification
from tests.scheduling.conftest import MONDAY, at, book, make_patient, make_schedule

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_a_reminder_due_at_booking_is_sent_after_commit(world, settings):
    settings.HM_REMINDER_LEAD_MINUTES = 60 * 24 * 365 * 20
    make_schedule(world)
    appointment = book(world, make_patient(world, phone=""), at(MONDAY, "09:00"))

    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        status = Notification.all_tenants.get(appointment_id=appointment.id).status
        if status == "SENT":
            break
        time.sleep(0.1)

    assert status == "SENT"
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]
