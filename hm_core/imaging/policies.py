"""Imaging policies: the orders module hears about images and reports through its services.

- The first instance of an IMAGING item's study (`imaging.study_received` linked by accession)
  moves the item to IMAGES_AVAILABLE.
- Signing a clinical document of type RADIOLOGY_REPORT whose payload names an `order_item`
  completes that item.
"""

from __future__ import annotations

import uuid

from hm_core.common.scope import scope_active
from hm_core.documents.events import DocumentSigned
from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.imaging import domain
from hm_core.imaging.events import StudyReceived
from hm_core.orders import services as order_services
from hm_core.orders.events import ITEM_IMAGES_AVAILABLE, ITEM_ORDERED
from hm_core.orders.selectors import order_item_get

RADIOLOGY_REPORT = "radiology_report"


@subscribe(StudyReceived, stage=Stage.POLICY)
def item_images_available_when_study_received(event: StudyReceived, meta: EventMeta) -> None:
    """Only an ORDERED item moves: a cancelled or already reported item keeps its state."""
    if event.link != domain.ACCESSION or event.order_item_id is None:
        return
    scope = meta.scope
    with scope_active(scope):
        if order_item_get(scope=scope, item_id=event.order_item_id).status != ITEM_ORDERED:
            return
    order_services.order_item_images_available(
        scope=scope, item_id=event.order_item_id, study_instance_uid=event.study_instance_uid
    )


@subscribe(DocumentSigned, stage=Stage.POLICY)
def item_complete_when_report_signed(event: DocumentSigned, meta: EventMeta) -> None:
    """A signed radiology report completes the IMAGING item its payload names."""
    if event.doc_type.lower() != RADIOLOGY_REPORT:
        return
    item_id = _uuid(event.payload.get("order_item"))
    if item_id is None:
        return
    scope = meta.scope
    with scope_active(scope):
        item = order_item_get(scope=scope, item_id=item_id)
        if item.status not in (ITEM_ORDERED, ITEM_IMAGES_AVAILABLE) or not item.accession_number:
            return
    order_services.order_item_complete(scope=scope, item_id=item_id, document_id=event.document_id)


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
