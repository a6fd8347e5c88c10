"""Entry point of the dramatiq workers: `dramatiq hm_core.worker` (see `make worker`).

Sets Django up (which configures the Redis broker from REDIS_URL and declares every actor) so
that actors run with the same settings, apps and database as the web processes.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")  # as config.wsgi
django.setup()

from hm_core.events import actors as event_actors  # noqa: E402, F401 - registers actors
from hm_core.fhir import actors as fhir_actors  # noqa: E402, F401 - registers actors
from hm_core.interop import actors as interop_actors  # noqa: E402, F401 - registers actors
from hm_core.notifications import actors as notification_actors  # noqa: E402, F401 - registers actors
from hm_core.webhooks import actors as webhook_actors  # noqa: E402, F401 - registers actors
