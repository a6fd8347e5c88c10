"""CSV bodies of the reports: the JSON rows, one line each, the key column first."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpRequest, HttpResponse


def wants_csv(request: HttpRequest, format_: str | None) -> bool:
    """`?format=csv`, or an Accept header preferring text/csv (`?format=json` wins over it)."""
    if format_ is not None:
        return format_ == "csv"
    accept = request.headers.get("Accept", "")
    return any(part.split(";")[0].strip() == "text/csv" for part in accept.split(","))


def csv_text(rows: list[dict[str, Any]]) -> str:
    """RFC 4180 text: a header line, then each row; null is an empty field."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue()


def csv_response(rows: list[dict[str, Any]], *, filename: str) -> HttpResponse:
    response = HttpResponse(csv_text(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
