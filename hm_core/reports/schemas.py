"""Report schemas (contract §16): query filters and the `{rows, totals}` bodies."""

from __future__ import annotations

from datetime import date
from typing import Literal

from ninja import Schema
from pydantic import Field, model_validator

from hm_core.common.schemas import FilterSchema

MAX_DAYS = 731  # two years: longer ranges are exports, not reports


class ReportFilters(FilterSchema):
    """`from`, `to`: whole days in the facility's time zone; `format=csv` for a CSV body."""

    from_: date | None = Field(None, alias="from")
    to: date | None = None
    format: Literal["json", "csv"] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ReportFilters:
        if self.from_ and self.to:
            if self.from_ > self.to:
                raise ValueError("`from` must not be after `to`")
            if (self.to - self.from_).days >= MAX_DAYS:
                raise ValueError(f"a report covers at most {MAX_DAYS} days")
        return self


class OpdReportFilters(ReportFilters):
    group_by: Literal["day", "practitioner"] = "day"


class RevenueReportFilters(ReportFilters):
    group_by: Literal["day", "payer", "service"] = "day"


class OpdFigures(Schema):
    encounters: int
    closed: int
    cancelled: int
    no_shows: int
    median_wait_minutes: float | None
    median_visit_minutes: float | None


class OpdDayRow(OpdFigures):
    day: date = Field(description="the local day (group_by=day)")


class OpdPractitionerRow(OpdFigures):
    practitioner: str | None = Field(description="the practitioner's user id (null: nobody yet)")


class OpdReportOut(Schema):
    rows: list[OpdDayRow] | list[OpdPractitionerRow]
    totals: OpdFigures


class LabFigures(Schema):
    results: int
    median_minutes: float | None
    p90_minutes: float | None
    critical: int


class LabRow(LabFigures):
    service_code: str


class LabReportOut(Schema):
    rows: list[LabRow]
    totals: LabFigures


Money = str  # Decimal to the cent, as text ("12.50")


class RevenueFigures(Schema):
    currency: str | None
    billed: Money | None
    claimed: Money | None
    approved: Money | None
    paid: Money | None
    outstanding: Money | None = Field(None, description="billed - paid")


class RevenueDayRow(RevenueFigures):
    day: date


class RevenuePayerRow(RevenueFigures):
    payer: str = Field(description='the payer id of the encounter\'s claim, or "patient"')


class RevenueServiceRow(RevenueFigures):
    service: str | None = Field(description="service code; null for payments (made per invoice)")


class RevenueReportOut(Schema):
    rows: list[RevenueDayRow] | list[RevenuePayerRow] | list[RevenueServiceRow]
    totals: RevenueFigures
