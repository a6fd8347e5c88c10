"""Guarding outbound calls: SSRF checks on webhook URLs, the connection pinned to the address
the check saw, and the HMAC signature of a body."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings

from hm_core.common.errors import ValidationFailed

SIGNATURE_HEADER = "X-HM-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the receiver recomputes it with
    the shared secret and rejects old timestamps to stop replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def check_url(url: str) -> str:
    """Refuse URLs that resolve to loopback, private, link-local or reserved addresses unless
    `HM_WEBHOOK_ALLOWED_NETWORKS` lets them (server-side request forgery guard), and plain
    `http://` unless `HM_WEBHOOK_ALLOW_HTTP`; returns the address to connect to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed.field("url", "must be an http(s) URL with a host")
    if parts.scheme == "http" and not settings.HM_WEBHOOK_ALLOW_HTTP:
        raise ValidationFailed.field("url", "must be an https URL (plain http is not allowed)")
    try:
        infos = socket.getaddrinfo(parts.hostname, _port(url), proto=socket.IPPROTO_TCP)
    except (socket.gaierror, ValueError):
        raise ValidationFailed.field("url", "host does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if _internal(address) and not _allowed(address):
            raise ValidationFailed.field("url", f"resolves to a non-public address ({address})")
    return str(infos[0][4][0])


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def post_pinned(
    url: str, *, address: str, body: bytes, headers: dict[str, str], timeout: float
) -> int:
    """POST `body` to `url` over a connection to `address` (the one `check_url` validated, so a
    second DNS answer cannot redirect it), with the URL's host in `Host` and TLS SNI and
    certificate check. Redirects are not followed: the caller gets the 3xx status."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", _port(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = _PinnedHTTPSConnection(host, port, address=address, timeout=timeout)
    else:
        connection = _PinnedHTTPConnection(host, port, address=address, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)  # the receiver's answer is not used; bounded all the same
        return response.status
    finally:
        connection.close()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        self.tls_context = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls_context)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.host)


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    networks = [ipaddress.ip_network(n, strict=False) for n in settings.HM_WEBHOOK_ALLOWED_NETWORKS]
    return any(address.version == net.version and address in net for net in networks)
