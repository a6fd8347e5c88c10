"""Report read models: one narrow row per fact a report counts, built only from events.

Each fact table holds UTC instants, the local day they fall on in the facility's time zone
(`day`, set by the projection; re-keyed when the facility's zone changes) and, where a report
takes a median, the interval in minutes computed once from the events' own timestamps.

Counts and sums are also kept per facility, local day and dimension in rollup tables
(`OpdDay`, `LabDay`, `RevenueDay`) that the projections increment in the same transaction, so
a year's report adds up a few thousand rows instead of a million facts. Medians and p90 are
not additive: they are selected exactly from the facts by rank, through indexes ordered by
the value (see `selectors` and docs/reports.md).
"""

from __future__ import annotations

import uuid

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
    day = models.DateField(null=True)  # `at` as a local date of the facility
    wait_minutes = models.FloatField(null=True)  # check-in → consultation start
    visit_minutes = models.FloatField(null=True)  # check-in → close


class OpdNoShow(ScopedModel):
    """An appointment marked as a no-show, on the day and with the practitioner it was for."""

    appointment_id = models.UUIDField(primary_key=True)
    practitioner_id = models.UUIDField(null=True)
    at = models.DateTimeField()
    day = models.DateField(null=True)


class LabTurnaround(ScopedModel):
    """One ordered lab test: placed when, first released when, and whether it was critical."""

    order_item_id = models.UUIDField(primary_key=True)
    order_id = models.UUIDField()
    service_code = models.CharField(max_length=32)
    placed_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True)
    day = models.DateField(null=True)  # the local day of the first release
    critical = models.BooleanField(default=False)
    minutes = models.FloatField(null=True)  # order placed → first release


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
    day = models.DateField(null=True)

    class Meta:
        indexes = [
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


# --- Per-day rollups: counts and sums per facility, local day and dimension -----------------


NOBODY = uuid.UUID(int=0)  # the practitioner key of visits nobody has taken (a unique key)


# Lower edges, in minutes, of the buckets of the wait and visit-length histograms kept in
# `OpdDay` (a bucket runs to the next edge; the first also holds anything below 5, the last
# everything from 240 up). Finer where outpatient waits and visits usually fall. They only
# decide where an exact percentile's index walk starts (`percentile.percentiles_by_rank`).
MINUTE_EDGES = (0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120, 180, 240)


def minute_buckets(metric: str) -> tuple[str, ...]:
    """The histogram columns of `waits` or `visits`, in the order of `MINUTE_EDGES`."""
    return tuple(f"{metric}_from_{edge}" for edge in MINUTE_EDGES)


class OpdDay(ScopedModel):
    """Visits of a local day with one practitioner (`NOBODY`: no practitioner yet), and the
    histograms of their waits and visit lengths (`waits_from_<edge>`, `visits_from_<edge>`:
    how many fall in the bucket from that edge, see `MINUTE_EDGES`)."""

    day = models.DateField()
    practitioner_id = models.UUIDField()
    encounters = models.IntegerField(default=0, db_default=0)
    closed = models.IntegerField(default=0, db_default=0)
    cancelled = models.IntegerField(default=0, db_default=0)
    no_shows = models.IntegerField(default=0, db_default=0)
    waits = models.IntegerField(
        default=0, db_default=0
    )  # visits with a wait (the median's population)
    visits = models.IntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "facility_id", "day", "practitioner_id"],
                name="reports_opdday_key",
            )
        ]


for _column in (*minute_buckets("waits"), *minute_buckets("visits")):
    OpdDay.add_to_class(_column, models.IntegerField(default=0, db_default=0))


class LabDay(ScopedModel):
    """Lab tests of one code first released on a local day."""

    day = models.DateField()
    service_code = models.CharField(max_length=32)
    results = models.IntegerField(default=0, db_default=0)
    critical = models.IntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "facility_id", "day", "service_code"],
                name="reports_labday_key",
            )
        ]


class RevenueDay(ScopedModel):
    """Money of a local day per payer, service (`""`: a payment no line took) and currency."""

    day = models.DateField()
    payer = models.CharField(max_length=36)
    service_code = models.CharField(max_length=32)
    currency = models.CharField(max_length=3)
    # Whole cents: integer sums are exact on every backend (SQLite has no decimal type).
    billed = models.BigIntegerField(default=0, db_default=0)
    claimed = models.BigIntegerField(default=0, db_default=0)
    approved = models.BigIntegerField(default=0, db_default=0)
    paid = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "facility_id", "day", "payer", "service_code", "currency"],
                name="reports_revenueday_key",
            )
        ]
