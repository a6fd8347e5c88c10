"""ServiceRequest ← order items, DocumentReference ← clinical documents (every version from
the version table), Task ← tasks (every version from the task stream)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet

from hm_core.common.scope import Scope
from hm_core.documents.selectors import (
    DocumentFilters,
    document_get,
    document_list,
    document_versions,
    document_versions_of,
)
from hm_core.events.base import EventMeta
from hm_core.fhir import params
from hm_core.fhir.mappers.common import (
    ACCESSION_SYSTEM,
    LOINC,
    PLACER_SYSTEM,
    SERVICE_SYSTEM,
    drop_empty,
    fold_stream,
    ref,
)
from hm_core.fhir.registry import (
    Criteria,
    Mapper,
    SearchParam,
    Source,
    Version,
    parse_uuid,
    register,
)
from hm_core.orders.selectors import (
    order_find_by_placer_number,
    order_item_get,
    order_item_list,
    orders_by_ids,
)
from hm_core.tasks.events import (
    TaskCancelled,
    TaskClaimed,
    TaskCompleted,
    TaskCreated,
    TaskStarted,
)
from hm_core.tasks.selectors import TaskFilters, task_get, task_list

PATIENT = SearchParam("patient", "reference", "The patient (Patient/<id>)")
ENCOUNTER = SearchParam("encounter", "reference", "The encounter (Encounter/<id>)")


def filtered(
    rows: QuerySet[Any],
    criteria: Criteria,
    *,
    status: Callable[[str], list[str]] | None = None,
    more: Callable[[str, str], Q] | None = None,
) -> QuerySet[Any]:
    """Apply the parameters every type shares (patient, encounter, status) and the rest."""
    for name, values in criteria.items():
        for value in values:
            if name in ("patient", "subject"):
                rows = rows.filter(params.reference_q("patient_id", value, "Patient"))
            elif name == "encounter":
                rows = rows.filter(params.reference_q("encounter_id", value, "Encounter"))
            elif name == "status" and status is not None:
                codes = [c for v in params.or_values(value) for c in status(v)]
                rows = rows.filter(status__in=codes) if codes else rows.none()
            elif more is not None:
                rows = rows.filter(more(name, value))
    return rows


def _reverse(mapping: dict[str, str]) -> Callable[[str], list[str]]:
    return lambda fhir: [ours for ours, theirs in mapping.items() if theirs == fhir]


# ---------------------------------------------------------------- ServiceRequest
ITEM_STATUS = {
    "ORDERED": "active",
    "COLLECTED": "active",
    "IMAGES_AVAILABLE": "active",
    "RESULTED": "completed",
    "COMPLETED": "completed",
    "CANCELLED": "revoked",
}
PRIORITY = {"ROUTINE": "routine", "URGENT": "urgent", "STAT": "stat"}


def service_request(item: Any, order: Any) -> dict[str, Any]:
    coding = [{"system": LOINC, "code": item.loinc_code}] if item.loinc_code else []
    coding.append({"system": SERVICE_SYSTEM, "code": item.service_code})
    identifiers = [
        {"system": PLACER_SYSTEM, "value": order.placer_order_number, "type": _v2("PLAC")},
        {"system": ACCESSION_SYSTEM, "value": item.accession_number, "type": _v2("ACSN")},
    ]
    return drop_empty(
        {
            "resourceType": "ServiceRequest",
            "id": str(item.id),
            "identifier": [i for i in identifiers if i["value"]],
            "requisition": {"system": "urn:hm-core:order", "value": str(order.id)},
            "status": ITEM_STATUS.get(item.status, "unknown"),
            "intent": "order",
            "category": [{"text": order.order_type.lower()}],
            "priority": PRIORITY.get(order.priority),
            "code": {"coding": coding, "text": item.name},
            "subject": ref("Patient", item.patient_id),
            "encounter": ref("Encounter", item.encounter_id),
            "authoredOn": order.created_at.isoformat(),
            "requester": {"display": order.ordered_by} if order.ordered_by else None,
        }
    )


def _v2(code: str) -> dict[str, Any]:
    return {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": code}]}


class ServiceRequestMapper(Mapper):
    """Order items; an item's version is its order's (no event stream per item: read only the
    current version)."""

    resource_type = "ServiceRequest"
    permission = "orders.view"
    search_params = (
        PATIENT,
        ENCOUNTER,
        SearchParam("status", "token", "active | completed | revoked"),
        SearchParam("code", "token", f"LOINC or service code ({SERVICE_SYSTEM})"),
        SearchParam("identifier", "token", f"Placer order number ({PLACER_SYSTEM})"),
    )

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        item = order_item_get(scope=scope, item_id=parse_uuid(resource_id, self.resource_type))
        return self._expand(scope, [item])[0]

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        placers = criteria.pop("identifier", [])
        rows = filtered(
            order_item_list(scope=scope), criteria, status=_reverse(ITEM_STATUS), more=_item_q
        )
        for value in placers:
            rows = rows.filter(_placer_q(scope, value))
        return [Source(rows=rows, expand=lambda batch: self._expand(scope, batch))]

    def _expand(self, scope: Scope, items: list[Any]) -> list[list[Version]]:
        orders = orders_by_ids(scope=scope, order_ids={i.order_id for i in items})
        return [
            [
                Version(
                    service_request(item, orders[item.order_id]),
                    orders[item.order_id].version,
                    orders[item.order_id].updated_at,
                    item.patient_id,
                )
            ]
            for item in items
        ]


def _item_q(name: str, value: str) -> Q:
    if name == "code":
        q = params.NOTHING
        for part in params.or_values(value):
            system, code = params.token(part)
            if system in (None, LOINC):
                q |= Q(loinc_code=code)
            if system in (None, SERVICE_SYSTEM):
                q |= Q(service_code=code)
        return q
    return params.NOTHING


def _placer_q(scope: Scope, value: str) -> Q:
    """Placer order numbers through the orders selector: the order ids they name."""
    ids = []
    for code in params.token_codes(value, system=PLACER_SYSTEM):
        order = order_find_by_placer_number(scope=scope, placer_order_number=code)
        if order is not None:
            ids.append(order.id)
    return Q(order_id__in=ids) if ids else params.NOTHING


# ---------------------------------------------------------------- DocumentReference
DOC_STATUS = {"DRAFT": "preliminary", "FINAL": "final", "AMENDED": "amended"}


def document_reference(document: Any, version: Any, *, current: bool) -> dict[str, Any]:
    content = json.dumps(version.payload, sort_keys=True).encode()
    return drop_empty(
        {
            "resourceType": "DocumentReference",
            "id": str(document.id),
            "status": "current" if current else "superseded",
            "docStatus": DOC_STATUS.get(version.status, "preliminary"),
            "type": {"coding": [{"system": "urn:hm-core:doc-type", "code": document.doc_type}]},
            "subject": ref("Patient", document.patient_id),
            "date": version.created_at.isoformat(),
            "author": [],
            "description": version.reason or None,
            "content": [
                {
                    "attachment": {
                        "contentType": "application/json",
                        "data": base64.b64encode(content).decode(),
                        "title": document.doc_type,
                    }
                }
            ],
            "context": {"encounter": [ref("Encounter", document.encounter_id)]},
        }
    )


def _document_versions(document: Any, versions: list[Any]) -> list[Version]:
    return [
        Version(
            document_reference(document, v, current=v.version == document.version),
            v.version,
            v.created_at,
            document.patient_id,
        )
        for v in sorted(versions, key=lambda v: -v.version)
    ]


class DocumentReferenceMapper(Mapper):
    """Clinical documents: the current version, and every earlier one by vread/history."""

    resource_type = "DocumentReference"
    permission = "documents.view"
    search_params = (
        PATIENT,
        ENCOUNTER,
        SearchParam("type", "token", "The document type (urn:hm-core:doc-type)"),
        SearchParam("status", "token", "current (every document's latest version)"),
    )

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        document = document_get(scope=scope, document_id=parse_uuid(resource_id, "Document"))
        return _document_versions(
            document, list(document_versions(scope=scope, document_id=document.id))
        )

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        statuses = [v for value in criteria.pop("status", []) for v in params.or_values(value)]
        rows = filtered(
            document_list(scope=scope, filters=DocumentFilters()), criteria, more=_doc_q
        )
        if statuses and "current" not in statuses:
            rows = rows.none()
        return [Source(rows=rows, expand=lambda batch: self._expand(scope, batch))]

    def _expand(self, scope: Scope, documents: list[Any]) -> list[list[Version]]:
        by_document: dict[uuid.UUID, list[Any]] = {}
        for v in document_versions_of(scope=scope, document_ids={d.id for d in documents}):
            by_document.setdefault(v.document_id, []).append(v)
        return [_document_versions(d, by_document.get(d.id, []))[:1] for d in documents]


def _doc_q(name: str, value: str) -> Q:
    codes = params.token_codes(value, system="urn:hm-core:doc-type")
    return Q(doc_type__in=codes) if codes else params.NOTHING


# ---------------------------------------------------------------- Task
TASK_STATUS = {
    "OPEN": "ready",
    "CLAIMED": "accepted",
    "IN_PROGRESS": "in-progress",
    "DONE": "completed",
    "CANCELLED": "cancelled",
}
_TASK_STEPS = {
    TaskClaimed.event_type: "CLAIMED",
    TaskStarted.event_type: "IN_PROGRESS",
    TaskCompleted.event_type: "DONE",
    TaskCancelled.event_type: "CANCELLED",
}


def task_resource(state: dict[str, Any]) -> dict[str, Any]:
    return drop_empty(
        {
            "resourceType": "Task",
            "id": str(state["id"]),
            "status": TASK_STATUS[state["status"]],
            "intent": "order",
            "code": {"coding": [{"system": "urn:hm-core:task-kind", "code": state["kind"]}]},
            "description": state["title"],
            "for": ref("Patient", state.get("patient_id")),
            "encounter": ref("Encounter", state.get("encounter_id")),
            "authoredOn": state["created_at"].isoformat(),
            "lastModified": state["updated_at"].isoformat(),
            "owner": {"display": state["assignee_username"]}
            if state.get("assignee_username")
            else None,
            "businessStatus": {"text": state["queue"]},
        }
    )


_TASK_FIELDS = ("id", "patient_id", "encounter_id", "status", "kind", "title", "queue",
                "assignee_username", "created_at", "updated_at")  # fmt: skip


def _apply_task(state: dict[str, Any], event: Any, meta: EventMeta) -> None:
    if isinstance(event, TaskCreated):
        state.update(
            id=event.task_id, patient_id=event.patient_id, encounter_id=event.encounter_id,
            status="OPEN", kind=event.kind, title=event.title, queue=event.queue,
            assignee_username=event.assignee_username, created_at=meta.recorded_at,
        )  # fmt: skip
    if isinstance(event, TaskClaimed):
        state["assignee_username"] = event.assignee_username
    state["status"] = _TASK_STEPS.get(event.event_type, state["status"])
    state["updated_at"] = meta.recorded_at


def _task_version(row: Any) -> Version:
    state = {name: getattr(row, name) for name in _TASK_FIELDS}
    return Version(task_resource(state), row.version, row.updated_at, row.patient_id)


class TaskMapper(Mapper):
    resource_type = "Task"
    permission = "tasks.view"
    search_params = (
        PATIENT,
        SearchParam("status", "token", "ready | accepted | in-progress | completed | cancelled"),
    )

    def read(self, scope: Scope, resource_id: str) -> Version:
        return _task_version(task_get(scope=scope, task_id=parse_uuid(resource_id, "Task")))

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        task = task_get(scope=scope, task_id=parse_uuid(resource_id, "Task"))
        return fold_stream(
            scope, task.id, apply=_apply_task,
            render=lambda state: (task_resource(state), state.get("patient_id")),
        ) or [_task_version(task)]  # fmt: skip

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        rows = filtered(
            task_list(scope=scope, filters=TaskFilters()), criteria, status=_reverse(TASK_STATUS)
        )
        return [Source(rows=rows, expand=lambda batch: [[_task_version(r)] for r in batch])]


register(ServiceRequestMapper())
register(DocumentReferenceMapper())
register(TaskMapper())
