"""The gunicorn worker class of `make serve`: uvicorn serving `config.asgi:application`.

`config/gunicorn.py` still applies (bind, workers, timeouts, access log to stdout). Two of its
promises need saying again to uvicorn, which parses requests itself: headers up to 32 kB reach
Django (h11 refuses a request head past its buffer with a bare 400), and the access log never
shows a query string (`config.asgi` filters `uvicorn.access`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class HmUvicornWorker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "h11_max_incomplete_event_size": 64 * 1024,
        # No permessage-deflate on /ws/events/: its messages are a few hundred bytes, and the
        # per-socket zlib state and per-push compression cost ~40 KiB of memory per open socket
        # and ~40% of the CPU of a push to 200 sockets (profiled: docs/realtime.md).
        "ws_per_message_deflate": False,
    }
