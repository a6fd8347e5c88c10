"""Guarding outbound calls: SSRF checks on webhook URLs, and the HMAC signature of a body."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from hm_core.common.errors import ValidationFailed

SIGNATURE_HEADER = "X-HM-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the receiver recomputes it with
    the shared secret and rejects old timestamps to stop replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def check_url(url: str) -> None:
    """Refuse URLs that resolve to loopback, private, link-local or reserved addresses unless
    `HM_WEBHOOK_ALLOWED_NETWORKS` lets them (server-side request forgery guard)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed.field("url", "must be an http(s) URL with a host")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise ValidationFailed.field("url", "host does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if _internal(address) and not _allowed(address):
            raise ValidationFailed.field("url", f"resolves to a non-public address ({address})")


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
