"""WSGI entry point for gunicorn (`make serve`) and runserver (`make run`).

Loaded once per serving process, which is where the embedded mode's reconciler thread starts
(never in tests, migrations or other management commands).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")
application = get_wsgi_application()

from hm_core.common.collector import freeze_after_startup  # noqa: E402 - needs apps
from hm_core.events.reconciler import start_embedded_reconciler  # noqa: E402 - needs apps

start_embedded_reconciler()
freeze_after_startup()  # last: what the process holds from now on, collections skip
