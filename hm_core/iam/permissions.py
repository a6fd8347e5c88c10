"""The catalogue of roles, permission codes and each role's default grants (contract §2)."""

from __future__ import annotations

ROLES: dict[str, str] = {
    "admin": "Tenant administrator",
    "doctor": "Doctor",
    "nurse": "Nurse",
    "lab_tech": "Laboratory technologist",
    "receptionist": "Receptionist",
    "billing_clerk": "Billing clerk",
    "auditor": "Auditor",
    # Service accounts of interface engines and modalities: post messages, nothing else.
    "integration": "Interface engine (service account)",
}

# A patient's own account (contract §17) is no staff role: `bootstrap_demo` makes no user for
# it and it is granted only to an account created for one patient record.
PATIENT_ROLES: dict[str, str] = {"patient": "Patient (own record only)"}
ALL_ROLES: dict[str, str] = {**ROLES, **PATIENT_ROLES}

PERMISSIONS: dict[str, str] = {
    "patients.view": "View patients",
    "patients.register": "Register patients",
    "patients.update": "Update patient demographics",
    "patients.delete": "Soft-delete patients",
    "patients.restore": "Restore soft-deleted patients",
    "timelines.view": "View patient and encounter timelines",
    "encounters.view": "View encounters",
    "encounters.create": "Create encounters",
    "encounters.check_in": "Check patients in",
    "encounters.record_vitals": "Record vitals",
    "encounters.start_consult": "Start a consultation",
    "encounters.record_assessment": "Record an assessment",
    "encounters.record_plan": "Record a plan",
    "encounters.close": "Close encounters",
    "encounters.cancel": "Cancel encounters",
    "tasks.view": "View tasks",
    "tasks.work": "Claim, start, complete and cancel tasks",
    "documents.view": "View clinical documents",
    "documents.create": "Create clinical documents",
    "documents.sign": "Sign clinical documents",
    "documents.amend": "Amend clinical documents",
    "orders.view": "View orders",
    "orders.place": "Place orders",
    "orders.cancel": "Cancel orders",
    "samples.view": "View samples",
    "samples.receive": "Receive samples",
    "samples.reject": "Reject samples",
    "results.view": "View results",
    "results.enter": "Enter results",
    "results.verify": "Verify results",
    "results.release": "Release results",
    "results.correct": "Correct released results",
    "alerts.view": "View alerts",
    "alerts.acknowledge": "Acknowledge alerts",
    "billing.view": "View invoices, payers and payments",
    "payers.create": "Register insurers and other payers",
    "coverages.view": "View patients' insurance coverages",
    "coverages.add": "Add insurance coverages to patients",
    "claims.view": "View claims",
    "claims.create": "Create claims from final invoices",
    "claims.submit": "Submit claims to payers",
    "claims.adjudicate": "Record payers' adjudication of claims",
    "payments.record": "Record payments from patients and payers",
    "audit.view": "Read the audit trail",
    "audit.verify": "Verify the event chain",
    "tenant.configure": "Configure the tenant (roles, rules, catalog)",
    "users.manage": "Create and deactivate users, grant and revoke memberships",
    "interop.configure": "Configure interface channels",
    "interop.view": "Read the interface message log",
    "interop.post": "Post HL7 v2 messages",
    "interop.replay": "Replay interface messages",
    "imaging.view": "View imaging studies, instances and DICOMweb queries",
    "imaging.store": "Store DICOM instances (DICOMweb STOW-RS)",
    "schedules.view": "View practitioners' schedules and free slots",
    "schedules.manage": "Create practitioners' schedules",
    "appointments.view": "View appointments",
    "appointments.book": "Book appointments",
    "appointments.manage": "Cancel, reschedule and mark appointments as no-show",
    "appointments.check_in": "Check patients in for their appointments",
    "notifications.view": "View patient notifications (reminders)",
    "reports.view": "Read operational reports (OPD, lab turnaround, revenue) and the dashboard",
    "fhir.import": "Import FHIR transaction and batch Bundles",
    "fhir.export": "Run FHIR Bulk Data exports",
}

_SCHEDULING_ALL = [code for code in PERMISSIONS if code.startswith(("schedules.", "appointments."))]

_ENCOUNTER_ALL = [code for code in PERMISSIONS if code.startswith("encounters.")]

DEFAULT_GRANTS: dict[str, list[str]] = {
    "admin": list(PERMISSIONS),
    "doctor": [
        "patients.view",
        "patients.register",
        "patients.update",
        "timelines.view",
        *_ENCOUNTER_ALL,
        "orders.view",
        "orders.place",
        "orders.cancel",
        "samples.view",
        "documents.view",
        "documents.create",
        "documents.sign",
        "documents.amend",
        "results.view",
        "alerts.view",
        "alerts.acknowledge",
        "tasks.view",
        "tasks.work",
        "imaging.view",
        "schedules.view",
        "appointments.view",
        "appointments.book",
        "appointments.check_in",
    ],
    "nurse": [
        "patients.view",
        "patients.register",
        "timelines.view",
        "encounters.view",
        "encounters.create",
        "encounters.check_in",
        "encounters.record_vitals",
        "encounters.cancel",
        "documents.view",
        "documents.create",
        "results.view",
        "alerts.view",
        "alerts.acknowledge",
        "tasks.view",
        "tasks.work",
        "imaging.view",
        "schedules.view",
        "appointments.view",
        "appointments.book",
        "appointments.check_in",
    ],
    "lab_tech": [
        "orders.view",
        "samples.view",
        "samples.receive",
        "samples.reject",
        "results.view",
        "results.enter",
        "results.verify",
        "results.release",
        "results.correct",
        "tasks.view",
        "tasks.work",
    ],
    "receptionist": [
        "patients.view",
        "patients.register",
        "patients.update",
        "encounters.view",
        "encounters.create",
        "encounters.check_in",
        "encounters.cancel",
        *_SCHEDULING_ALL,
    ],
    "billing_clerk": [
        "patients.view",
        "billing.view",
        "coverages.view",
        "coverages.add",
        "claims.view",
        "claims.create",
        "claims.submit",
        "claims.adjudicate",
        "payments.record",
    ],
    "auditor": ["audit.view", "audit.verify", "timelines.view", "interop.view", "reports.view"],
    # Modalities and PACS peers store over DICOMweb and read back what they stored.
    "integration": ["interop.post", "imaging.store", "imaging.view"],
}

# A patient lists, reads, books and cancels its own appointments (contract §17).
PATIENT_APPOINTMENT_GRANTS = ["appointments.view", "appointments.book", "appointments.manage"]

# What a patient may read is further cut to their own record by the principal's `patient_id`
# (hm_core/iam/patient_access.py): these grants never reach another patient's data.
# `appointments.manage` is what cancelling takes; of its other uses (reschedule, no-show) no
# route is open to a patient, so the grant reaches cancelling its own appointments only.
PATIENT_GRANTS: dict[str, list[str]] = {
    "patient": [
        "patients.view",
        "encounters.view",
        "results.view",
        *PATIENT_APPOINTMENT_GRANTS,
    ],
}
ALL_DEFAULT_GRANTS: dict[str, list[str]] = {**DEFAULT_GRANTS, **PATIENT_GRANTS}
