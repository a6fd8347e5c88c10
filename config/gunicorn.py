"""gunicorn settings for `make serve` (`gunicorn -c config/gunicorn.py config.wsgi:application`).

Command-line flags and `GUNICORN_CMD_ARGS` still override these.
"""

# The access log names the path, never the query string or the referrer: list filters such as
# `?search=<patient name>` carry PHI, and logs travel further than the database.
access_log_format = '%(h)s - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'
accesslog = "-"
graceful_timeout = 30
# Headers up to 32 kB reach Django (gunicorn's own 8 kB limit answers with an HTML page, not
# the contract's error body); `limit_request_fields` and the line limit keep their defaults.
limit_request_field_size = 32768
