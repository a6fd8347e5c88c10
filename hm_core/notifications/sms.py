"""Pluggable SMS backends, chosen by `HM_SMS_BACKEND` (a dotted path), like Django's e-mail
backends: `ConsoleBackend` prints, `FileBackend` writes a file per message under
`HM_SMS_FILE_PATH` (development), `LocmemBackend` keeps messages in `outbox` (tests). A
gateway's backend subclasses `BaseBackend` and raises on a failed send (the sender retries).
"""

from __future__ import annotations

import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str


class BaseBackend:
    def send(self, message: SmsMessage) -> None:
        raise NotImplementedError


class ConsoleBackend(BaseBackend):
    def send(self, message: SmsMessage) -> None:
        sys.stdout.write(f"SMS to {message.to}\n{message.body}\n{'-' * 40}\n")
        sys.stdout.flush()


class FileBackend(BaseBackend):
    def send(self, message: SmsMessage) -> None:
        folder = Path(settings.HM_SMS_FILE_PATH)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{uuid.uuid4()}.txt").write_text(f"To: {message.to}\n\n{message.body}\n")


outbox: list[SmsMessage] = []
_outbox_lock = threading.Lock()


class LocmemBackend(BaseBackend):
    def send(self, message: SmsMessage) -> None:
        with _outbox_lock:
            outbox.append(message)


def get_backend() -> BaseBackend:
    backend: BaseBackend = import_string(settings.HM_SMS_BACKEND)()
    return backend
