"""Logging filters that keep PHI out of logs."""

from __future__ import annotations

import logging
import re

# `GET /api/patients/?search=Jane%20Doe HTTP/1.1` → `GET /api/patients/ HTTP/1.1`
_QUERY = re.compile(r"\?[^\s]*")


class StripQueryString(logging.Filter):
    """Drop query strings from request lines (runserver's `django.server` log): search and
    list filters carry patient names and identifiers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _QUERY.sub("", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY.sub("", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, dict):  # `%(path)s` style (daphne's runserver)
            record.args = {
                key: _QUERY.sub("", value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        return True
