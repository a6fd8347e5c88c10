"""Reminders meet field encryption (contract §14, §18): the patient's e-mail and phone are
tokens at rest, the senders still address the message in clear, and no log record, stored
event or notification row carries either."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection

from hm_core.notifications import sms
from hm_core.notifications.reconciler import resend_due_notifications
from tests.notifications.test_reminders import NOW_LEAD, reminders
from tests.scheduling.conftest import MONDAY, at, book, make_patient, make_schedule

EMAIL, PHONE = "quentin.abernathy@example.org", "+41 79 555 0142"
TRACES = ("quentin", "abernathy", "555 0142", "5550142")


@pytest.fixture(autouse=True)
def _empty_outboxes():
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def _dump(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return "\n".join(repr(row) for row in cursor.fetchall()).lower()


def _due_reminders(world, settings):
    settings.HM_REMINDER_LEAD_MINUTES = NOW_LEAD
    make_schedule(world)
    return book(world, make_patient(world, email=EMAIL, phone=PHONE), at(MONDAY, "09:00"))


def test_reminders_are_addressed_in_clear_while_the_patient_row_holds_tokens(world, settings):
    # given: a patient whose e-mail and phone are stored encrypted, and reminders due now
    appointment = _due_reminders(world, settings)
    for table in ("patients_patient", "events_event", "notifications_notification"):
        assert not [t for t in TRACES if t in _dump(table)], table

    # when
    assert resend_due_notifications(timedelta(0)) == 2

    # then
    assert [m.to for m in mail.outbox] == [[EMAIL]]
    assert [m.to for m in sms.outbox] == [PHONE]
    assert {n.status for n in reminders(appointment.id).values()} == {"SENT"}
    assert not [t for t in TRACES if t in _dump("events_event")]


class RefusingEmail(BaseEmailBackend):
    """An SMTP server refusing the recipient: the error quotes the address."""

    def send_messages(self, email_messages):
        recipients = {to: (550, b"no such user") for m in email_messages for to in m.to}
        raise smtplib.SMTPRecipientsRefused(recipients)


class RefusingSms(sms.BaseBackend):
    """A gateway refusing the number: the error quotes it."""

    def send(self, message: sms.SmsMessage) -> None:
        raise ConnectionError(f"gateway refused {message.to}")


@pytest.mark.parametrize("refused", [False, True], ids=["sent", "refused"])
def test_no_log_record_carries_the_patients_address(world, settings, caplog, refused):
    # given: every logger at DEBUG, and backends that accept or refuse quoting the address
    if refused:
        settings.EMAIL_BACKEND = "tests.notifications.test_encrypted_addresses.RefusingEmail"
        settings.HM_SMS_BACKEND = "tests.notifications.test_encrypted_addresses.RefusingSms"
    caplog.set_level(logging.DEBUG)
    appointment = _due_reminders(world, settings)

    # when
    resend_due_notifications(timedelta(0))

    # then: the outcome is recorded, and no log line or traceback names the address
    statuses = {n.channel: (n.status, n.last_error) for n in reminders(appointment.id).values()}
    if refused:
        assert statuses == {
            "email": ("SCHEDULED", "SMTPRecipientsRefused"),
            "sms": ("SCHEDULED", "ConnectionError"),
        }
    else:
        assert statuses == {"email": ("SENT", ""), "sms": ("SENT", "")}
    logged = caplog.text.lower() + "".join(
        str(r.args).lower() + str(r.exc_info).lower() for r in caplog.records
    )
    assert not [t for t in TRACES if t in logged]
    assert not [t for t in TRACES if t in _dump("events_event")]
