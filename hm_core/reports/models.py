"""Report read models: one narrow row per fact a report counts, built only from events.

Each table holds UTC instants and, where a report takes a median, the interval in minutes
computed once from the events' own timestamps, so the database aggregates plain numbers.
Day boundaries are applied at query time in the facility's current time zone.
"""

from __future__ import annotations

from django.db import models

from hm_core.common.models import ScopedModel


class OpdVisit(ScopedModel):
    """One encounter: when it happened (check-in, else its scheduled time) and its intervals."""

    encounter_id = models.UUIDField(primary_key=True)
    # The appointment's practitioner when it came from one, else who started the consultation.
    practitioner_id = models.UUIDField(null=True)
    practitioner_from_appointment = models.BooleanField(default=False)
    status = models.CharField(max_length=16)
    scheduled_at = models.DateTimeField(null=True)
    checked_in_at = models.DateTimeField(null=True)
    consult_started_at = models.DateTimeField(null=True)
    closed_at = models.DateTimeField(null=True)
    cancelled_at = models.DateTimeField(null=True)
    at = models.DateTimeField(null=True)  # the instant that puts the visit on a day
    wait_minutes = models.FloatField(null=True)  # check-in → consultation start
    visit_minutes = models.FloatField(null=True)  # check-in → close

    class Meta:
        indexes = [
            models.Index(fields=["tenant_id", "facility_id", "at"], name="reports_visit_by_at"),
        ]


class OpdNoShow(ScopedModel):
    """An appointment marked as a no-show, on the day and with the practitioner it was for."""

    appointment_id = models.UUIDField(primary_key=True)
    practitioner_id = models.UUIDField(null=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant_id", "facility_id", "at"], name="reports_noshow_by_at"),
        ]


class LabTurnaround(ScopedModel):
    """One ordered lab test: placed when, first released when, and whether it was critical."""

    order_item_id = models.UUIDField(primary_key=True)
    order_id = models.UUIDField()
    service_code = models.CharField(max_length=32)
    placed_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True)
    critical = models.BooleanField(default=False)
    minutes = models.FloatField(null=True)  # order placed → first release

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "released_at"], name="reports_lab_by_release"
            ),
        ]


class RevenueEntry(ScopedModel):
    """One money fact: a charge billed, a claim submitted or adjudicated, a payment recorded.

    `kind` is billed, claimed, approved or paid (or reversed: a charge no longer owed; drafted:
    a line of a claim not submitted yet), which the reports leave out. A claim filed after the
    charges moves all of its encounter's entries to its payer (`RevenueEncounterPayer` keeps
    the encounter's payer for the entries that come later).
    """

    id = models.CharField(primary_key=True, max_length=80)  # "<kind>:<source id>[:<line>]"
    kind = models.CharField(max_length=8)
    encounter_id = models.UUIDField(null=True)
    claim_id = models.UUIDField(null=True)  # the claim a claimed or approved line belongs to
    # Who the encounter is billed to: its latest claim's payer id, or "patient" (set when the
    # entry is written and again, for all the encounter's entries, when a claim names a payer).
    payer = models.CharField(max_length=36, default="patient")
    service_code = models.CharField(max_length=32, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant_id", "facility_id", "at"], name="reports_revenue_by_at"),
            # A claim's lines, when it is submitted or adjudicated.
            models.Index(fields=["tenant_id", "claim_id"], name="reports_revenue_by_claim"),
            # An encounter's entries, when a claim moves them to its payer.
            models.Index(fields=["tenant_id", "encounter_id"], name="reports_revenue_by_encounter"),
        ]


class RevenueEncounterPayer(ScopedModel):
    """Who is billed for an encounter: the payer of its latest claim (else the patient)."""

    encounter_id = models.UUIDField(primary_key=True)
    payer = models.CharField(max_length=36)  # a payer's uuid, or "patient"
    claim_id = models.UUIDField()
