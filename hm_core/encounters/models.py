"""Encounter read models: the encounter snapshot and its vitals, built by `projections.py`."""

from __future__ import annotations

import uuid

from django.db import models

from hm_core.common.models import ScopedModel

# The statuses of an encounter still being worked (its care team reads a confidential patient).
OPEN_STATUSES = ("SCHEDULED", "CHECKED_IN", "IN_CONSULT")


class Encounter(ScopedModel):
    """An OPD visit at one facility; `version` is its stream version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    patient_id = models.UUIDField()
    status = models.CharField(max_length=16)
    reason = models.CharField(max_length=500)
    visit_number = models.CharField(max_length=64, blank=True)
    scheduled_at = models.DateTimeField()
    checked_in_at = models.DateTimeField(null=True)
    consult_started_at = models.DateTimeField(null=True)
    closed_at = models.DateTimeField(null=True)
    cancelled_at = models.DateTimeField(null=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    assessment = models.TextField(blank=True)
    # The assessment's coded diagnoses: [{"code": "J45.909", "system": "icd10"}, ...]
    diagnoses = models.JSONField(default=list)
    plan = models.TextField(blank=True)
    vitals_count = models.PositiveIntegerField(default=0)
    latest_news2 = models.PositiveSmallIntegerField(null=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Another system's visit number names one visit per facility (HL7 PV1-19).
            models.UniqueConstraint(
                fields=["tenant_id", "facility_id", "visit_number"],
                condition=~models.Q(visit_number=""),
                name="encounters_visit_number_uniq",
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "status", "scheduled_at"],
                name="encounters_by_status",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "patient_id", "scheduled_at"],
                name="encounters_by_patient",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "scheduled_at"], name="encounters_by_time"
            ),
            # A patient's open encounters in any facility (the confidential-patient care-team
            # rule, contract §18): open rows only, so it stays the size of today's work.
            models.Index(
                fields=["tenant_id", "patient_id"],
                condition=models.Q(status__in=OPEN_STATUSES),
                name="encounters_open_by_patient",
            ),
        ]

    def __str__(self) -> str:
        return f"encounter {self.id} ({self.status})"


class VitalsRecord(ScopedModel):
    """One set of vital signs with the NEWS2 score computed when it was recorded."""

    id = models.UUIDField(primary_key=True)
    encounter_id = models.UUIDField()
    patient_id = models.UUIDField()
    blood_pressure_systolic = models.PositiveSmallIntegerField()
    blood_pressure_diastolic = models.PositiveSmallIntegerField()
    pulse = models.PositiveSmallIntegerField()
    temperature = models.DecimalField(max_digits=5, decimal_places=2)
    temperature_unit = models.CharField(max_length=1)
    spo2 = models.PositiveSmallIntegerField()
    respiratory_rate = models.PositiveSmallIntegerField(null=True)
    consciousness = models.CharField(max_length=1)
    supplemental_oxygen = models.BooleanField()
    news2_total = models.PositiveSmallIntegerField()
    news2_parameters = models.JSONField()
    news2_risk = models.CharField(max_length=16)
    news2_complete = models.BooleanField()
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=150)

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "encounter_id", "recorded_at"], name="vitals_by_encounter"
            )
        ]

    def __str__(self) -> str:
        return f"vitals {self.id}"
