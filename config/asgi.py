"""ASGI entry point (`config.asgi:application`): HTTP through Django, `/ws/events/` through
Channels (contract §19). `make run` and `make serve` both serve it.

Loaded once per serving process, which is where the embedded mode's reconciler thread starts,
as in `config.wsgi`.
"""

import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - needs apps

from hm_core.common.collector import freeze_after_startup  # noqa: E402
from hm_core.common.logging import StripQueryString  # noqa: E402
from hm_core.events.reconciler import start_embedded_reconciler  # noqa: E402
from hm_core.realtime.routing import websocket_urlpatterns  # noqa: E402

# The token travels in the first message, never in a cookie or the URL: no ambient credential
# for another origin's page to ride on, so no origin check is needed on the socket.
application = ProtocolTypeRouter(
    {"http": django_http, "websocket": URLRouter(websocket_urlpatterns)}
)

# uvicorn's access log (alone or under gunicorn) prints the request line: query strings carry PHI.
logging.getLogger("uvicorn.access").addFilter(StripQueryString())
start_embedded_reconciler()
freeze_after_startup()  # last: what the process holds from now on, collections skip
