"""The DIMSE service class provider (pynetdicom): C-ECHO, C-STORE, Modality Worklist C-FIND.

One port for every tenant: the calling AE title names a `dicom` channel (unique across the
deployment), which gives the tenant and facility; an AE title no active channel has is
rejected at association (A-ASSOCIATE-RJ, "calling AE title not recognised"), looked up on each
association so a new channel needs no restart. Handlers run in pynetdicom's association
threads: each checks its database connection before and after (`close_old_connections`).
Received datasets are written by pynetdicom to a temporary Part-10 file
(`STORE_RECV_CHUNKED_DATASET`), never decoded whole. Logs: one line per association and per
instance, UIDs and statuses only, no PHI.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections, connections
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, _config, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ModalityWorklistInformationFind,
    Verification,
)

from hm_core.common.scope import Principal, RequestContext, Scope, unscoped
from hm_core.imaging import services, worklist
from hm_core.interop.selectors import dicom_channel_ae_titles, dicom_channel_for_ae_title

logger = logging.getLogger("hm_core.imaging.scp")
_config.STORE_RECV_CHUNKED_DATASET = True
# Uncompressed syntaxes at least; compressed ones are accepted and stored as they come.
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    *JPEGTransferSyntaxes,
    *JPEGLSTransferSyntaxes,
    *JPEG2000TransferSyntaxes,
    RLELossless,
]
SCP_PERMISSIONS = frozenset({"imaging.store", "imaging.view", "orders.view", "patients.view"})
STATUS = {services.STORED: 0x0000, services.DUPLICATE: 0x0000, services.TOO_LARGE: 0xA700}


class ChannelAE(AE):
    """An AE whose authorised calling AE titles are the active `dicom` channels, read on each
    association request (pynetdicom's own check then rejects the unknown ones)."""

    @property  # type: ignore[override]
    def require_calling_aet(self) -> list[str]:
        close_old_connections()
        titles = dicom_channel_ae_titles()
        return titles or ["\x00no-channel"]  # an empty list would let anyone in

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        raise AttributeError("calling AE titles come from the dicom channels")


@dataclass(frozen=True)
class Caller:
    ae_title: str
    scope: Scope


def caller_of(event: Any) -> Caller | None:
    """The channel of the association's calling AE title, as a scope; None if unknown."""
    ae_title = str(event.assoc.requestor.ae_title).strip()
    channel = dicom_channel_for_ae_title(ae_title)
    if channel is None:
        return None
    principal = Principal(
        user_id=None,
        username=f"dicom:{channel.name}",
        roles=frozenset({"integration"}),
        permissions=SCP_PERMISSIONS,
    )
    context = RequestContext(request_id=f"dicom-{uuid.uuid4()}", ip=event.assoc.requestor.address)
    scope = Scope(channel.tenant_id, channel.facility_id, principal, context)
    return Caller(ae_title=ae_title, scope=scope)


def handle_echo(event: Any) -> int:
    return 0x0000


def handle_store(event: Any) -> int:
    """C-STORE: 0x0000 stored (or already stored), 0xC000 unreadable, 0xA700 too large."""
    close_old_connections()
    try:
        caller = caller_of(event)
        if caller is None:
            return 0xC000
        with open(event.dataset_path, "rb") as fp:
            outcome = services.instance_store(scope=caller.scope, fp=fp, received_via="C-STORE")
        status = STATUS.get(outcome.status, 0xC000)
        logger.info(
            "c-store %s: %s %s status=0x%04X%s",
            caller.ae_title,
            outcome.status,
            outcome.sop_instance_uid or "-",
            status,
            f" ({outcome.reason})" if outcome.reason else "",
        )
        return status
    except Exception as exc:  # the SCP never dies of an instance; the type alone is logged
        logger.error("c-store: failed: %s", type(exc).__name__)
        return 0xC000
    finally:
        close_old_connections()


def handle_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
    """Modality Worklist C-FIND: pending (0xFF00) per entry, then success."""
    close_old_connections()
    try:
        caller = caller_of(event)
        entries = [] if caller is None else _entries(caller, event.identifier)
    except Exception as exc:
        logger.error("c-find: failed: %s", type(exc).__name__)
        yield 0xC001, None
        return
    finally:
        close_old_connections()
    logger.info("c-find %s: %d worklist entries", caller.ae_title if caller else "?", len(entries))
    for entry in entries:
        if event.is_cancelled:
            yield 0xFE00, None
            return
        yield 0xFF00, entry
    yield 0x0000, None


def _entries(caller: Caller, identifier: Dataset) -> list[Dataset]:
    query = worklist.query_of(identifier)
    return worklist.worklist(scope=caller.scope, query=query, station_ae=caller.ae_title)


def _log_association(event: Any) -> None:
    requestor = event.assoc.requestor
    kind = str(event.event.name).removeprefix("EVT_").lower()
    logger.info(
        "association %s: %s from %s:%s", kind, requestor.ae_title, requestor.address, requestor.port
    )


def _end_association(event: Any) -> None:
    """Log, and close this association thread's database connection: the thread ends here."""
    _log_association(event)
    connections.close_all()


HANDLERS: list[Any] = [
    (evt.EVT_C_ECHO, handle_echo),
    (evt.EVT_C_STORE, handle_store),
    (evt.EVT_C_FIND, handle_find),
    (evt.EVT_ESTABLISHED, _log_association),
    (evt.EVT_REJECTED, _end_association),
    (evt.EVT_RELEASED, _end_association),
    (evt.EVT_ABORTED, _end_association),
]


def build_ae(ae_title: str) -> ChannelAE:
    ae = ChannelAE(ae_title=ae_title)
    ae.add_supported_context(Verification)
    ae.add_supported_context(ModalityWorklistInformationFind)
    for context in AllStoragePresentationContexts:
        if context.abstract_syntax:
            ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES)
    ae.maximum_pdu_size = 0  # no limit on what we receive
    return ae


def start(*, host: str, port: int, ae_title: str) -> Any:
    """Start serving in background threads; the caller calls `.shutdown()` on the result."""
    with unscoped("DICOM SCP startup: no tenant yet"):
        ae = build_ae(ae_title)
    return ae.start_server((host, port), block=False, evt_handlers=HANDLERS)
