"""Catalog write use-cases: load the starter catalog into a tenant."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction

from hm_core.catalog.models import Analyte, ServiceItem
from hm_core.catalog.starter import STARTER


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@transaction.atomic
def catalog_seed(*, tenant_id: uuid.UUID, currency: str) -> int:
    """Create the starter services the tenant lacks; returns how many were created.

    Existing services are never touched, so an administrator's prices and ranges survive.
    """
    created = 0
    for spec in STARTER:
        service, new = ServiceItem.objects.get_or_create(
            tenant_id=tenant_id,
            code=spec.code,
            defaults={
                "name": spec.name,
                "loinc_code": spec.loinc,
                "order_type": spec.order_type,
                "specimen_type": spec.specimen,
                "price": Decimal(spec.price),
                "currency": currency,
            },
        )
        if not new:
            continue
        created += 1
        Analyte.objects.bulk_create(
            Analyte(
                service=service,
                code=a.code,
                name=a.name,
                loinc_code=a.loinc,
                unit=a.unit,
                reference_low=_dec(a.ref_low),
                reference_high=_dec(a.ref_high),
                critical_low=_dec(a.crit_low),
                critical_high=_dec(a.crit_high),
                order=i,
            )
            for i, a in enumerate(spec.analytes)
        )
    return created
