"""The client's address: `REMOTE_ADDR`, or what trusted proxies say in `X-Forwarded-For`.

Only a request whose peer is in `TRUSTED_PROXIES` (CIDRs, none by default) may name the client;
anyone else could write any address there to dodge the limits or forge the audit trail. Each
proxy appends the address it received the request from, so the list is read from the right and
the first address that is not itself a trusted proxy is the client.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The client address found by the rule above (cached on the request)."""
    cached = getattr(request, "_hm_client_ip", None)
    if cached is not None:
        return str(cached)
    remote = request.META.get("REMOTE_ADDR") or None
    networks = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))
    found = remote
    if remote and _trusted(remote, networks):
        for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
            hop = hop.strip()
            if not _is_address(hop):
                break  # garbage a trusted proxy passed on: keep the last address vouched for
            found = hop
            if not _trusted(hop, networks):
                break
    request._hm_client_ip = found  # type: ignore[attr-defined]
    return found


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
