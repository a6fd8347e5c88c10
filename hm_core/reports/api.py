"""Contract §16: operational reports, as `{rows, totals}` JSON or as CSV."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.scope import scope_active
from hm_core.reports import selectors
from hm_core.reports.rendering import csv_response, wants_csv
from hm_core.reports.schemas import (
    LabReportOut,
    OpdReportFilters,
    OpdReportOut,
    ReportFilters,
    RevenueReportFilters,
    RevenueReportOut,
)

router = Router(tags=["reports"])
CSV_DOC = {"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.get("/opd/", response={200: OpdReportOut, **ERRORS}, openapi_extra={"responses": CSV_DOC})
def report_opd(request: HttpRequest, filters: Query[OpdReportFilters]) -> Any:
    """OPD volume and waits per local day or per practitioner."""
    return _report(request, filters, "opd", selectors.opd_report, group_by=filters.group_by)


@router.get(
    "/lab-turnaround/",
    response={200: LabReportOut, **ERRORS},
    openapi_extra={"responses": CSV_DOC},
)
def report_lab_turnaround(request: HttpRequest, filters: Query[ReportFilters]) -> Any:
    """Lab turnaround (order placed → result released) per service code."""
    return _report(request, filters, "lab-turnaround", selectors.lab_turnaround_report)


@router.get(
    "/revenue/", response={200: RevenueReportOut, **ERRORS}, openapi_extra={"responses": CSV_DOC}
)
def report_revenue(request: HttpRequest, filters: Query[RevenueReportFilters]) -> Any:
    """Billed, claimed, approved, paid and outstanding per day, payer or service."""
    return _report(request, filters, "revenue", selectors.revenue_report, group_by=filters.group_by)


def _report(
    request: HttpRequest, filters: ReportFilters, name: str, build: Any, **options: Any
) -> dict[str, Any] | HttpResponse:
    scope = scope_of(request)
    scope.require("reports.view")
    with scope_active(scope):
        period = selectors.report_period(scope=scope, first=filters.from_, last=filters.to)
        body = build(scope=scope, period=period, **options)
    if wants_csv(request, filters.format):
        return csv_response(body["rows"], filename=f"{name}-{period.first}-{period.last}.csv")
    return body
