"""Outbound webhooks against a real HTTP receiver on loopback: retries, dead letters, signatures,
the SSRF guard, and checkpointed async subscriptions."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from hm_core.events import subscriptions
from hm_core.events.models import Event, SubscriptionCheckpoint, TenantEventHead
from hm_core.webhooks import delivery as delivery_module
from hm_core.webhooks import subscribers as webhook_subscribers
from hm_core.webhooks.delivery import deliver
from hm_core.webhooks.models import WebhookDelivery

SECRET = "s3cret-for-tests-0123456789"


class Receiver:
    """A loopback HTTP server that fails the first `failures` requests, or never answers."""

    def __init__(self, failures: int = 0, hang: bool = False) -> None:
        self.failures, self.hang, self.requests = failures, hang, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, body))  # case-insensitive
                if receiver.hang:
                    time.sleep(3)
                    return
                ok = len(receiver.requests) > receiver.failures
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def register(world, url, event_types=None):
    r = world.api("admin").post(
        "/api/webhooks/", {"url": url, "secret": SECRET, "event_types": event_types or []}
    )
    assert r.status_code == 201, r.json()
    assert r.json()["secret"] == SECRET
    return r.json()["id"]


def register_patient(world, mrn="W-1"):
    r = world.api("nurse").post(
        "/api/patients/",
        {"full_name": "Web Hook", "mrn": mrn, "date_of_birth": "1990-01-01", "gender": "O"},
    )
    assert r.status_code == 201
    return r.json()["id"]


def drain_and_deliveries(world):
    subscriptions.drain(world.tenant.id)
    return list(WebhookDelivery.objects.filter(tenant_id=world.tenant.id).order_by("position"))


def test_receiver_failing_three_times_then_ok_gets_it_with_attempts_recorded_and_a_valid_signature(
    world, receiver
):
    # given
    rx = receiver(failures=3)
    hook = register(world, rx.url, ["patient.*"])
    register_patient(world)
    [delivery] = drain_and_deliveries(world)
    # when
    statuses = [deliver(delivery.id) for _ in range(4)]
    # then
    assert statuses == ["PENDING", "PENDING", "PENDING", "DELIVERED"]
    delivery.refresh_from_db()
    assert delivery.attempts == 4 and delivery.delivered_at is not None
    assert [a.status_code for a in delivery.attempt_log.order_by("number")] == [500, 500, 500, 200]
    headers, body = rx.requests[-1]
    assert (
        headers["X-HM-Delivery"] == str(delivery.id)
        and headers["X-HM-Event-Type"] == "patient.registered"
    )
    timestamp, mac = (part.split("=", 1)[1] for part in headers["X-HM-Signature"].split(","))
    expected = hmac.new(
        SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(mac, expected)
    document = json.loads(body)
    assert document["delivery_id"] == str(delivery.id)
    assert (
        document["event"]["type"] == "patient.registered"
        and document["event"]["payload"]["mrn"] == "W-1"
    )
    # every attempt carried the same delivery id: the receiver can drop duplicates
    assert {h["X-HM-Delivery"] for h, _ in rx.requests} == {str(delivery.id)}
    r = world.api("admin").get(f"/api/webhooks/{hook}/deliveries/", {"status": "DELIVERED"})
    assert r.json()["count"] == 1


def test_a_receiver_that_never_answers_is_dead_lettered_then_redelivered_by_hand(
    world, receiver, settings
):
    settings.HM_WEBHOOK_TIMEOUT_SECONDS = 1
    settings.HM_WEBHOOK_MAX_ATTEMPTS = 3
    rx = receiver(hang=True)
    hook = register(world, rx.url)
    register_patient(world)
    [delivery] = drain_and_deliveries(world)
    assert [deliver(delivery.id) for _ in range(4)] == ["PENDING", "PENDING", "DEAD", None]
    delivery.refresh_from_db()
    assert (
        delivery.attempts == 3
        and delivery.last_status_code is None
        and "timed out" in delivery.last_error
    )
    admin = world.api("admin")
    dead = admin.get(f"/api/webhooks/{hook}/deliveries/", {"status": "DEAD"}).json()
    assert [d["id"] for d in dead["items"]] == [str(delivery.id)]
    r = admin.post(f"/api/webhooks/{hook}/deliveries/{delivery.id}/redeliver/")
    assert r.status_code == 200 and r.json()["status"] == "PENDING"
    assert (
        admin.post(f"/api/webhooks/{hook}/deliveries/{delivery.id}/redeliver/").status_code == 409
    )


def test_event_type_filters_and_one_delivery_per_event_however_often_drained(world, receiver):
    rx = receiver()
    register(world, rx.url, ["encounter.*"])
    everything = register(world, rx.url)
    register_patient(world)
    first = drain_and_deliveries(world)
    again = drain_and_deliveries(world)
    assert [str(d.endpoint_id) for d in first] == [everything]
    assert [d.id for d in again] == [d.id for d in first]
    head = TenantEventHead.objects.get(tenant_id=world.tenant.id).position
    assert (
        SubscriptionCheckpoint.objects.get(name="webhooks", tenant_id=world.tenant.id).position
        == head
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.0.10/",
        "http://[fd00::1]/",
        "ftp://127.0.0.1/",
        "http://0.0.0.0/",
    ],
)
def test_urls_into_private_or_link_local_networks_are_refused(world, url):
    r = world.api("admin").post("/api/webhooks/", {"url": url})
    assert r.status_code == 422, r.json()
    assert r.json()["error"]["details"][0]["field"] == "url"


def test_loopback_is_refused_unless_allowed(world, settings):
    settings.HM_WEBHOOK_ALLOWED_NETWORKS = []
    r = world.api("admin").post("/api/webhooks/", {"url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 422


def test_only_tenant_administrators_manage_webhooks(world, other_world, receiver):
    rx = receiver()
    hook = register(world, rx.url)
    assert world.api("doctor").post("/api/webhooks/", {"url": rx.url}).status_code == 403
    assert world.api("auditor").get("/api/webhooks/").status_code == 403
    assert other_world.api("admin").get(f"/api/webhooks/{hook}/").status_code == 404
    assert other_world.api("admin").get("/api/webhooks/").json()["count"] == 0
    assert world.api("admin").delete(f"/api/webhooks/{hook}/").status_code == 204
    assert world.api("admin").get("/api/webhooks/").json()["count"] == 0


def test_a_failing_async_subscriber_does_not_hold_back_the_others(world, receiver, monkeypatch):
    # given a second async subscription that always fails
    def broken(event, meta):
        raise RuntimeError("downstream is down")

    registry = dict(subscriptions._registry)
    registry["broken"] = subscriptions.AsyncSubscription("broken", broken, None)
    monkeypatch.setattr(subscriptions, "_registry", registry)
    rx = receiver()
    register(world, rx.url)
    register_patient(world)
    # when
    subscriptions.drain(world.tenant.id)
    # then webhooks reached the head, the broken one waits before its first event, with a retry
    head = TenantEventHead.objects.get(tenant_id=world.tenant.id).position
    webhooks = SubscriptionCheckpoint.objects.get(name="webhooks", tenant_id=world.tenant.id)
    stuck = SubscriptionCheckpoint.objects.get(name="broken", tenant_id=world.tenant.id)
    assert webhooks.position == head
    assert stuck.position == 0 and stuck.failures == 1 and "downstream is down" in stuck.last_error
    assert stuck.retry_at is not None
    assert subscriptions.lag_by_subscription() == {"broken": head, "hl7_outbound": 0, "webhooks": 0}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_no_transaction_or_row_lock_is_held_while_the_receiver_is_called(world, monkeypatch):
    # given a pending delivery, and a send that looks at the database while "on the wire"
    monkeypatch.setattr(webhook_subscribers, "deliver_soon", lambda ids: None)  # test sends
    register(world, "http://127.0.0.1:9/hook", ["patient.*"])  # never reached: see fake_post
    register_patient(world)
    [delivery] = drain_and_deliveries(world)
    seen = {}

    def row_locked_elsewhere() -> bool:
        """Try to lock the row from another connection, as the reconciler would."""
        result = {}

        def probe():
            try:
                with transaction.atomic():
                    rows = WebhookDelivery.objects.select_for_update(nowait=True).filter(
                        id=delivery.id
                    )
                    result["locked"] = not list(rows)
            except DatabaseError:
                result["locked"] = True
            finally:
                connection.close()

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
        return result["locked"]

    def fake_post(claimed):
        seen["in_atomic_block"] = connection.in_atomic_block
        seen["row_locked"] = row_locked_elsewhere()
        claimed_row = WebhookDelivery.objects.get(id=claimed.id)
        seen["claimed_until_later"] = claimed_row.next_attempt_at > timezone.now()
        return 200, "", 3

    monkeypatch.setattr(delivery_module, "_post", fake_post)

    # when
    status = deliver(delivery.id)

    # then the send ran outside any transaction, the row unlocked but claimed, and the outcome
    # was recorded afterwards
    assert seen == {"in_atomic_block": False, "row_locked": False, "claimed_until_later": True}
    assert status == "DELIVERED"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.status == "DELIVERED"
    # and a claimed delivery is not sent twice while its claim holds
    WebhookDelivery.objects.filter(id=delivery.id).update(status="PENDING")
    assert deliver(delivery.id) is None  # not due: next_attempt_at was the lease


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_attempt_whose_lease_was_taken_over_is_not_recorded_twice(world, monkeypatch):
    # given a delivery claimed by a sender that outlives its lease while another takes it over
    monkeypatch.setattr(webhook_subscribers, "deliver_soon", lambda ids: None)  # test sends
    register(world, "http://127.0.0.1:9/hook", ["patient.*"])
    register_patient(world)
    [delivery] = drain_and_deliveries(world)

    def slow_post(claimed):
        WebhookDelivery.objects.filter(id=claimed.id).update(next_attempt_at=timezone.now())
        assert deliver(claimed.id) == "DELIVERED"  # the other sender, after the lease ran out
        return 200, "", 3

    fast = {"calls": 0}

    def post(claimed):
        fast["calls"] += 1
        if fast["calls"] == 1:
            return slow_post(claimed)
        return 200, "", 1

    monkeypatch.setattr(delivery_module, "_post", post)

    # when the first sender finishes
    status = deliver(delivery.id)

    # then only the attempt that held the claim is recorded
    assert status is None
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.status == "DELIVERED"


def test_a_receiver_gets_the_fields_encrypted_at_rest_in_plaintext(world, receiver):
    # given a patient registered with a phone, which the event store keeps encrypted
    rx = receiver()
    register(world, rx.url, ["patient.*"])
    body = {"full_name": "Web Hook", "mrn": "W-9", "date_of_birth": "1990-01-01", "gender": "O"}
    r = world.api("nurse").post("/api/patients/", {**body, "phone": "+44 20 7946 0999"})
    assert r.status_code == 201, r.json()
    [delivery] = drain_and_deliveries(world)
    stored = Event.objects.get(id=delivery.event_id).payload

    # when
    assert deliver(delivery.id) == "DELIVERED"

    # then the receiver reads the phone the tenant recorded, the store holds only a token
    document = json.loads(rx.requests[-1][1])
    assert document["event"]["payload"]["phone"] == "+44 20 7946 0999"
    assert "7946" not in json.dumps(stored)
