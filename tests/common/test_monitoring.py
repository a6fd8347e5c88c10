"""Error monitoring (contract §11a): unhandled errors reach Sentry with PHI scrubbed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from hm_core.common.monitoring import before_send, sentry_options
from hm_core.patients import services
from tests.patients.factories import register_patient

PHI_EVENT: dict[str, Any] = {
    "request": {
        "method": "PATCH",
        "url": "https://hm.example.org/api/patients/42/?search=Anna+Smith",
        "query_string": "search=Anna+Smith",
        "data": {"full_name": "Anna Smith", "national_id": "123-45-6789"},
        "cookies": {"hm_refresh": "secret"},
        "env": {"REMOTE_ADDR": "203.0.113.9"},
        "headers": {
            "Authorization": "Bearer abc",
            "Cookie": "hm_refresh=secret",
            "Content-Type": "application/json",
            "X-Request-ID": "req-1",
            "X-Tenant-ID": "t-1",
            "X-Forwarded-For": "203.0.113.9",
            "Referer": "https://app.example.org/patients?search=Anna",
        },
    },
    "user": {"id": "u-1", "username": "nurse@acme", "email": "n@acme.org", "ip_address": "1.2.3.4"},
    "breadcrumbs": {"values": [{"message": "SELECT ... 'Anna Smith'"}]},
    "extra": {"payload": {"full_name": "Anna Smith"}},
    "exception": {
        "values": [
            {
                "type": "IntegrityError",
                "value": "duplicate key\nDETAIL:  Key (tenant_id, mrn)=(t-1, MRN-1) exists.",
            }
        ]
    },
}


def test_before_send_keeps_method_path_safe_headers_and_user_id_only():
    # when
    event = before_send(PHI_EVENT | {"request": dict(PHI_EVENT["request"])}, {})

    # then
    assert event["request"] == {
        "method": "PATCH",
        "url": "https://hm.example.org/api/patients/42/",
        "headers": {
            "Content-Type": "application/json",
            "X-Request-ID": "req-1",
            "X-Tenant-ID": "t-1",
        },
    }
    assert event["user"] == {"id": "u-1"}
    assert "breadcrumbs" not in event and "extra" not in event
    assert event["exception"]["values"][0]["value"] == "duplicate key"
    assert "Anna" not in str(event) and "MRN-1" not in str(event)


def test_before_send_of_an_event_without_request_or_user_passes_it_on():
    event = before_send({"message": "worker crashed"}, {})

    assert event == {"message": "worker crashed"}


def test_the_sdk_options_send_no_default_pii_locals_or_bodies():
    options = sentry_options()

    assert options["send_default_pii"] is False
    assert options["include_local_variables"] is False
    assert options["max_request_body_size"] == "never"
    assert options["before_send"] is before_send


class _Captured(Transport):
    """Keeps the envelopes the SDK would send, instead of sending them."""

    envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


@pytest.fixture
def sentry_events():
    _Captured.envelopes = []
    sentry_sdk.init(dsn="https://key@sentry.invalid/1", transport=_Captured, **sentry_options())
    yield _Captured.envelopes
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def test_an_unhandled_error_over_http_reaches_sentry_without_phi(world, monkeypatch, sentry_events):
    # given: a patient whose detail view fails unexpectedly
    api = world.api()
    patient = register_patient(api, full_name="Anna Smith", national_id="123-45-6789")

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("projection bug")

    monkeypatch.setattr(services, "patient_view", broken)

    # when
    response = api.get(f"/api/patients/{patient['id']}/", {"search": "Anna Smith"})
    sentry_sdk.flush()

    # then
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    events = [
        item.payload.json for env in sentry_events for item in env.items if item.type == "event"
    ]
    assert len(events) == 1
    [event] = events
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    request = event.get("request", {})
    assert set(request) <= {"method", "url", "headers"}
    assert "authorization" not in {h.lower() for h in request.get("headers", {})}
    assert "search" not in str(request) and "Bearer" not in str(request)
    assert set(event.get("user", {})) <= {"id"}
    assert "breadcrumbs" not in event and "extra" not in event
    frames = [f for value in event["exception"]["values"] for f in value["stacktrace"]["frames"]]
    assert frames and not any("vars" in frame for frame in frames)  # no payloads, no locals
    assert uuid.UUID(patient["id"])
