"""The SSRF guard holds at send time: no redirects, the checked address pinned, https only."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hm_core.common.errors import ValidationFailed
from hm_core.webhooks.delivery import deliver
from hm_core.webhooks.models import WebhookDelivery
from hm_core.webhooks.security import check_url
from tests.webhooks.test_webhooks import drain_and_deliveries, register, register_patient


class Server:
    """A loopback server answering every POST with `status` (and `location`), recording hits."""

    def __init__(self, status: int = 200, location: str = "") -> None:
        self.hits: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.hits.append(dict(self.headers))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.close()


def _one_delivery(world, url: str) -> WebhookDelivery:
    register(world, url, ["patient.*"])
    register_patient(world)
    [delivery] = drain_and_deliveries(world)
    return delivery


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(world, servers):
    # given: the receiver answers 302 to an internal address the URL check never saw
    internal = Server()
    redirector = Server(status=302, location=internal.url)
    servers += [internal, redirector]
    delivery = _one_delivery(world, redirector.url)

    # when
    status = deliver(delivery.id)

    # then
    delivery.refresh_from_db()
    assert status == "PENDING" and delivery.attempts == 1
    assert delivery.last_status_code == 302 and "redirect" in delivery.last_error
    assert len(redirector.hits) == 1 and internal.hits == []


def test_the_connection_goes_to_the_address_the_check_validated(world, servers, monkeypatch):
    # given: a name whose second DNS answer (after the check) points somewhere else
    receiver = Server()
    servers.append(receiver)
    url = f"http://hooks.example.test:{receiver.port}/hook"
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"] * 2 + ["127.0.0.2"] * 10)  # registration, send check, rebound

    def rebinding(host, port, *args, **kwargs):
        if host == "hooks.example.test":
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    delivery = _one_delivery(world, url)

    # when
    status = deliver(delivery.id)

    # then: delivered to the checked address, named by its host
    assert status == "DELIVERED", WebhookDelivery.objects.get(id=delivery.id).last_error
    [hit] = receiver.hits
    assert hit["Host"] == f"hooks.example.test:{receiver.port}"


def test_plain_http_urls_are_refused_unless_allowed(settings):
    settings.HM_WEBHOOK_ALLOW_HTTP = False

    with pytest.raises(ValidationFailed, match="https"):
        check_url("http://127.0.0.1:9/hook")
    assert check_url("https://127.0.0.1:9/hook") == "127.0.0.1"


def test_plain_http_is_refused_in_production_settings_by_default():
    from config.settings import base

    assert base.HM_WEBHOOK_ALLOW_HTTP is False
