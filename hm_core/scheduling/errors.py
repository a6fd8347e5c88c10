"""Scheduling error codes (contract §14).

`slot_unavailable` (409): the practitioner has another active appointment overlapping;
`patient_double_booked` (409): the patient has; `outside_schedule` (422): not on the grid of
the practitioner's weekly hours; `start_in_past` (422); `appointment_not_started` (422): a
no-show before the start; `invalid_transition` (409) comes from common errors.
"""

from hm_core.common.errors import Conflict, ValidationFailed


class SlotUnavailable(Conflict):
    default_code = "slot_unavailable"
    default_message = "The practitioner has another appointment in this interval."


class PatientDoubleBooked(Conflict):
    default_code = "patient_double_booked"
    default_message = "The patient has another appointment in this interval."


class OutsideSchedule(ValidationFailed):
    default_code = "outside_schedule"
    default_message = "The interval is not on the grid of the practitioner's schedule."


class StartInPast(ValidationFailed):
    default_code = "start_in_past"
    default_message = "An appointment cannot start in the past."


class AppointmentNotStarted(ValidationFailed):
    default_code = "appointment_not_started"
    default_message = "A no-show can only be recorded after the appointment's start."
