"""Catalog reads: services by code with their analytes, for one tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from hm_core.catalog.models import ServiceItem


@dataclass(frozen=True)
class AnalyteSpec:
    code: str
    name: str
    unit: str
    loinc_code: str
    reference_low: Decimal | None
    reference_high: Decimal | None
    critical_low: Decimal | None
    critical_high: Decimal | None


@dataclass(frozen=True)
class ServiceSpec:
    code: str
    name: str
    loinc_code: str
    order_type: str
    specimen_type: str
    price: Decimal
    currency: str
    analytes: tuple[AnalyteSpec, ...]


def services_by_code(*, tenant_id: uuid.UUID, codes: list[str]) -> dict[str, ServiceSpec]:
    """Active services of the tenant among `codes` (two queries whatever their number)."""
    rows = ServiceItem.objects.filter(
        tenant_id=tenant_id, code__in=set(codes), is_active=True
    ).prefetch_related("analytes")
    return {row.code: _spec(row) for row in rows}


def service_by_code(*, tenant_id: uuid.UUID, code: str) -> ServiceSpec | None:
    return services_by_code(tenant_id=tenant_id, codes=[code]).get(code)


@dataclass(frozen=True)
class ServicePrice:
    code: str
    name: str
    price: Decimal
    currency: str


def service_price(*, tenant_id: uuid.UUID, code: str) -> ServicePrice | None:
    """An active service's name and price in its catalog currency (one query, no analytes):
    what a charge needs."""
    row = (
        ServiceItem.objects.filter(tenant_id=tenant_id, code=code, is_active=True)
        .values_list("code", "name", "price", "currency")
        .first()
    )
    return ServicePrice(*row) if row is not None else None


def _spec(row: ServiceItem) -> ServiceSpec:
    analytes = tuple(
        AnalyteSpec(
            a.code,
            a.name,
            a.unit,
            a.loinc_code,
            a.reference_low,
            a.reference_high,
            a.critical_low,
            a.critical_high,
        )
        for a in sorted(row.analytes.all(), key=lambda a: (a.order, a.code))
    )
    return ServiceSpec(
        row.code,
        row.name,
        row.loinc_code,
        row.order_type,
        row.specimen_type,
        row.price,
        row.currency,
        analytes,
    )


def service_by_loinc(*, tenant_id: uuid.UUID, loinc_code: str) -> ServiceSpec | None:
    """The tenant's active service coded with this LOINC (another system's name for it), if any;
    the first by code when the catalog has several."""
    if not loinc_code:
        return None
    row = (
        ServiceItem.objects.filter(tenant_id=tenant_id, loinc_code=loinc_code, is_active=True)
        .prefetch_related("analytes")
        .order_by("code")
        .first()
    )
    return _spec(row) if row is not None else None
