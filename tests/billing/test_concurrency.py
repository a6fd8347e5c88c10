"""Real concurrency on PostgreSQL: clerks record payments on one invoice at the same moment."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from hm_core.billing import domain
from hm_core.billing.errors import Overpayment
from hm_core.billing.models import Payment
from hm_core.billing.services import payment_record
from hm_core.catalog.services import catalog_seed
from hm_core.events.chain import verify_chain
from tests.billing.conftest import closed_visit
from tests.encounters.test_concurrency import _race

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

WRITERS = 6


def test_concurrent_payments_never_overpay_the_invoice(world):
    # given a closed visit of 80.00 and six clerks each paying 30.00 at once
    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    visit = closed_visit(world, "CBC", "CRP")
    scope = world.scope("billing_clerk")

    def pay() -> object:
        spec = domain.PaymentSpec(uuid.uuid4(), domain.PATIENT, Decimal("30.00"), "cash", "")
        return payment_record(scope=scope, invoice_id=domain.account_stream_id(visit.id), spec=spec)

    # when
    results = _race(pay, n=WRITERS)

    # then two fit, the others are refused as overpayments, and the chain holds
    paid = [r for r in results if isinstance(r, Payment)]
    refused = [r for r in results if isinstance(r, Overpayment)]
    assert len(paid) == 2 and len(refused) == WRITERS - 2, results
    total = sum(p.amount for p in Payment.all_tenants.filter(encounter_id=visit.id))
    assert total == Decimal("60.00")
    assert verify_chain(world.tenant.id).ok
