"""Appointment reminders: scheduled by a booking, moved, withdrawn, sent, retried, listed."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from hm_core.events.models import Event
from hm_core.notifications import sms
from hm_core.notifications.actors import send_notification
from hm_core.notifications.delivery import _claim, deliver
from hm_core.notifications.models import Notification
from hm_core.notifications.reconciler import resend_due_notifications
from hm_core.scheduling import services
from tests.scheduling.conftest import MONDAY, at, book, make_patient, make_schedule, set_zone

NOW_LEAD = 60 * 24 * 365 * 20  # a lead time longer than the wait: every reminder is due at once


@pytest.fixture(autouse=True)
def _empty_outboxes():
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def reminders(appointment_id) -> dict[str, Notification]:
    rows = Notification.all_tenants.filter(appointment_id=appointment_id)
    return {n.channel: n for n in rows}


def types(notification: Notification) -> list[str]:
    return list(
        Event.objects.filter(stream_id=notification.id)
        .order_by("stream_version")
        .values_list("type", flat=True)
    )


def test_booking_schedules_an_email_and_an_sms_reminder_a_day_ahead(world):
    make_schedule(world)
    patient = make_patient(world)

    appointment = book(world, patient, at(MONDAY, "09:00"))

    found = reminders(appointment.id)
    assert set(found) == {"email", "sms"}
    for notification in found.values():
        assert notification.status == "SCHEDULED"
        assert notification.due_at == at(MONDAY, "09:00") - timedelta(hours=24)
        assert notification.patient_id == patient.id
        assert types(notification) == ["notification.scheduled"]
    # not due yet: nothing is sent
    assert resend_due_notifications(timedelta(0)) == 0
    assert mail.outbox == [] and sms.outbox == []


def test_only_the_channels_the_patient_has(world):
    make_schedule(world)
    email_only = book(world, make_patient(world, phone=""), at(MONDAY, "09:00"))
    neither = book(world, make_patient(world, phone="", email="", name="Bo"), at(MONDAY, "10:00"))
    assert set(reminders(email_only.id)) == {"email"}
    assert reminders(neither.id) == {}


def test_the_lead_time_is_a_setting_and_a_past_moment_means_at_once(world, settings):
    make_schedule(world)
    settings.HM_REMINDER_LEAD_MINUTES = 90
    soon = book(world, make_patient(world), at(MONDAY, "09:00"))
    assert reminders(soon.id)["email"].due_at == at(MONDAY, "07:30")

    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    patient = make_patient(world, name="Now")
    before = datetime.now(tz=UTC)
    now = book(world, patient, at(MONDAY, "10:00"))
    assert before <= reminders(now.id)["email"].due_at <= datetime.now(tz=UTC)


def test_due_reminders_are_sent_by_email_and_sms_in_the_facility_time(world, settings):
    # given a Berlin facility and a reminder due now
    set_zone(world.main, "Europe/Berlin")
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    make_schedule(world, weekly=[{"weekday": 0, "start": "09:00", "end": "12:00"}])
    patient = make_patient(world, email="ada@example.org", phone="+15550100")
    appointment = book(world, patient, at(MONDAY, "08:00"))  # 09:00 CET

    # when the reconciler's pass runs (the message handed to a sender was lost)
    assert resend_due_notifications(timedelta(0)) == 2

    # then one e-mail and one SMS, in local time, without the visit's reason
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]
    assert "09:00" in mail.outbox[0].body and "Europe/Berlin" in mail.outbox[0].body
    assert "Follow-up" not in mail.outbox[0].body
    assert [m.to for m in sms.outbox] == ["+15550100"]
    for notification in reminders(appointment.id).values():
        assert notification.status == "SENT" and notification.attempts == 1
        assert notification.sent_at is not None
        assert types(notification) == ["notification.scheduled", "notification.sent"]
    # sent once: another pass finds nothing
    assert resend_due_notifications(timedelta(0)) == 0
    assert len(mail.outbox) == 1


def test_the_worker_actor_sends_a_due_reminder(world, settings):
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    make_schedule(world)
    appointment = book(world, make_patient(world, phone=""), at(MONDAY, "09:00"))
    notification = reminders(appointment.id)["email"]

    send_notification(str(notification.id))  # as a dramatiq worker runs it

    assert reminders(appointment.id)["email"].status == "SENT"
    assert len(mail.outbox) == 1


def test_rescheduling_moves_the_reminder(world):
    make_schedule(world)
    appointment = book(world, make_patient(world), at(MONDAY, "09:00"))

    services.appointment_reschedule(
        scope=world.scope("receptionist"),
        appointment_id=appointment.id,
        start=at(MONDAY + timedelta(days=1), "10:00"),
        end=None,
    )

    for notification in reminders(appointment.id).values():
        assert notification.status == "SCHEDULED"
        assert notification.due_at == at(MONDAY, "10:00")  # 24 h before Tuesday 10:00
        assert types(notification) == ["notification.scheduled", "notification.scheduled"]


def test_a_sent_reminder_is_sent_again_for_the_new_time(world, settings):
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    make_schedule(world)
    appointment = book(world, make_patient(world, phone=""), at(MONDAY, "09:00"))
    resend_due_notifications(timedelta(0))
    services.appointment_reschedule(
        scope=world.scope("receptionist"),
        appointment_id=appointment.id,
        start=at(MONDAY, "11:00"),
        end=None,
    )
    assert reminders(appointment.id)["email"].status == "SCHEDULED"
    resend_due_notifications(timedelta(0))
    assert len(mail.outbox) == 2
    assert reminders(appointment.id)["email"].status == "SENT"


def test_cancelling_withdraws_the_reminder(world, settings):
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    make_schedule(world)
    appointment = book(world, make_patient(world), at(MONDAY, "09:00"))

    services.appointment_cancel(
        scope=world.scope("receptionist"), appointment_id=appointment.id, reason="called off"
    )

    for notification in reminders(appointment.id).values():
        assert notification.status == "CANCELLED"
        assert types(notification)[-1] == "notification.cancelled"
    assert resend_due_notifications(timedelta(0)) == 0
    assert mail.outbox == [] and sms.outbox == []


class FlakySms(sms.BaseBackend):
    """Fails the first `failures` sends (a gateway timing out), then accepts."""

    failures = 0
    calls = 0

    def send(self, message: sms.SmsMessage) -> None:
        FlakySms.calls += 1
        if FlakySms.calls <= FlakySms.failures:
            raise TimeoutError(f"gateway timed out sending to {message.to}")
        sms.outbox.append(message)


def test_a_failed_send_is_retried_then_sent(world, settings):
    # given a gateway that fails twice
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    settings.HM_SMS_BACKEND = "tests.notifications.test_reminders.FlakySms"
    FlakySms.failures, FlakySms.calls = 2, 0
    make_schedule(world)
    appointment = book(world, make_patient(world, email=""), at(MONDAY, "09:00"))

    # when the senders pass three times (backoff 0 in tests)
    statuses = []
    for _ in range(3):
        resend_due_notifications(timedelta(0))
        statuses.append(reminders(appointment.id)["sms"].status)

    # then two failures were recorded, retried, and the third attempt sent it
    notification = reminders(appointment.id)["sms"]
    assert statuses == ["SCHEDULED", "SCHEDULED", "SENT"]
    assert notification.attempts == 3 and notification.last_error == "TimeoutError"
    assert types(notification) == [
        "notification.scheduled",
        "notification.failed",
        "notification.failed",
        "notification.sent",
    ]
    failed = Event.objects.filter(stream_id=notification.id, type="notification.failed").first()
    assert failed.payload["final"] is False
    assert "+1555" not in str(failed.payload)  # the error's text (with the number) is not kept
    assert len(sms.outbox) == 1


def test_retries_back_off_exponentially(world, settings):
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    settings.HM_NOTIFICATION_BACKOFF_SECONDS = 60
    settings.HM_SMS_BACKEND = "tests.notifications.test_reminders.FlakySms"
    FlakySms.failures, FlakySms.calls = 5, 0
    make_schedule(world)
    appointment = book(world, make_patient(world, email=""), at(MONDAY, "09:00"))

    resend_due_notifications(timedelta(0))

    notification = reminders(appointment.id)["sms"]
    assert notification.status == "SCHEDULED" and notification.attempts == 1
    failed = Event.objects.get(stream_id=notification.id, type="notification.failed")
    assert notification.due_at - failed.recorded_at >= timedelta(seconds=59)
    # not due again yet
    assert resend_due_notifications(timedelta(0)) == 0


class BrokenSmtp(BaseEmailBackend):
    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        raise smtplib.SMTPServerDisconnected("down")


def test_attempts_run_out_and_the_reminder_fails(world, settings):
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    settings.HM_NOTIFICATION_MAX_ATTEMPTS = 2
    settings.EMAIL_BACKEND = "tests.notifications.test_reminders.BrokenSmtp"
    make_schedule(world)
    appointment = book(world, make_patient(world, phone=""), at(MONDAY, "09:00"))

    for _ in range(3):
        resend_due_notifications(timedelta(0))

    notification = reminders(appointment.id)["email"]
    assert notification.status == "FAILED" and notification.attempts == 2
    assert notification.last_error == "SMTPServerDisconnected"
    last = Event.objects.filter(stream_id=notification.id).latest("stream_version")
    assert last.type == "notification.failed" and last.payload["final"] is True


def test_a_reminder_is_claimed_by_one_sender_at_a_time(world, settings):
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    make_schedule(world)
    appointment = book(world, make_patient(world, phone=""), at(MONDAY, "09:00"))
    notification = reminders(appointment.id)["email"]

    assert _claim(notification.id) is not None
    # a second sender (the actor and the reconciler both got it) leaves it alone
    assert _claim(notification.id) is None
    assert deliver(notification.id) is None
    assert mail.outbox == []


class CancellingSms(sms.BaseBackend):
    """While the SMS is on its way, a receptionist cancels the appointment."""

    appointment_id = None
    scope = None

    def send(self, message: sms.SmsMessage) -> None:
        services.appointment_cancel(
            scope=CancellingSms.scope, appointment_id=CancellingSms.appointment_id, reason="x"
        )
        sms.outbox.append(message)


def test_a_reminder_withdrawn_during_its_send_stays_withdrawn(world, settings):
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    settings.HM_SMS_BACKEND = "tests.notifications.test_reminders.CancellingSms"
    make_schedule(world)
    appointment = book(world, make_patient(world, email=""), at(MONDAY, "09:00"))
    CancellingSms.appointment_id, CancellingSms.scope = appointment.id, world.scope("admin")

    assert deliver(reminders(appointment.id)["sms"].id) is None

    notification = reminders(appointment.id)["sms"]
    assert notification.status == "CANCELLED"
    assert "notification.sent" not in types(notification)


def test_admins_list_notifications_by_patient_and_status(
    world, settings, django_assert_max_num_queries
):
    make_schedule(world)
    ada, bob = make_patient(world), make_patient(world, name="Bob", phone="")
    book(world, ada, at(MONDAY, "09:00"))
    cancelled = book(world, bob, at(MONDAY, "10:00"))
    services.appointment_cancel(
        scope=world.scope("receptionist"), appointment_id=cancelled.id, reason="x"
    )
    api = world.api("admin")

    everything = api.get("/api/notifications/")
    assert everything.status_code == 200 and everything.json()["count"] == 3
    by_ada = api.get("/api/notifications/", {"patient": str(ada.id)}).json()
    assert {n["channel"] for n in by_ada["items"]} == {"email", "sms"}
    assert by_ada["items"][0]["appointment"]
    withdrawn = api.get("/api/notifications/", {"status": "CANCELLED"}).json()
    assert [n["patient"] for n in withdrawn["items"]] == [str(bob.id)]
    assert api.get("/api/notifications/", {"status": "LOST"}).status_code == 422
    assert api.get("/api/notifications/", {"channel": "sms"}).status_code == 422
    for role in ("receptionist", "doctor", "nurse", "auditor"):
        assert world.api(role).get("/api/notifications/").status_code == 403, role
    with django_assert_max_num_queries(8):
        assert api.get("/api/notifications/", {"limit": 200}).json()["count"] == 3


def test_another_tenant_or_facility_sees_no_notifications(world, other_world):
    make_schedule(world)
    book(world, make_patient(world), at(MONDAY, "09:00"))
    assert other_world.api("admin").get("/api/notifications/").json()["count"] == 0
    assert world.api("admin", world.annex).get("/api/notifications/").json()["count"] == 0
