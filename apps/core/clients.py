"""Who is the client: its address behind trusted proxies, and the key every rate limit and throttle counts it by.

The address comes from ``X-Forwarded-For`` only when the direct peer is a trusted proxy (``FORWARDED_ALLOW_IPS``,
the variable uvicorn's ``--forwarded-allow-ips`` reads too, with the same default); the header is then read from the
right, skipping trusted proxies, so a client cannot put a forged address in front of the one its proxy appended.
IPv6 clients are keyed by their /64: one subscriber usually holds a whole /64 and could otherwise rotate through
2^64 addresses to escape any per-address limit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

IPV6_PREFIX = 64
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[bool, tuple[Network, ...]]:
    if "*" in entries:
        return True, ()
    try:
        return False, tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"FORWARDED_ALLOW_IPS: {exc} (give addresses or networks, comma-separated, or *).") from None


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: str) -> bool:
    trust_all, networks = _trusted(tuple(settings.FORWARDED_ALLOW_IPS))
    if trust_all:
        return True
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in networks if parsed.version == network.version)


def client_ip(*, peer: str, forwarded_for: Iterable[str] = ()) -> str:
    """The client's address: ``peer``, unless ``peer`` is a trusted proxy and ``X-Forwarded-For`` names one."""
    if not peer or not is_trusted_proxy(peer):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else peer


def rate_key(address: str) -> str:
    """What a rate limit counts: the IPv4 address, or the IPv6 /64 network; garbage is one shared bucket."""
    parsed = _parse(address)
    if parsed is None:
        return "unknown"
    if parsed.version == 6:
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed)


def request_client_ip(request: Any) -> str:
    """The client's address of a Django or DRF request."""
    meta: Mapping[str, str] = request.META
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    return client_ip(peer=meta.get("REMOTE_ADDR", ""), forwarded_for=[forwarded] if forwarded else [])


def request_client_key(request: Any) -> str:
    return rate_key(request_client_ip(request))


def scope_client_key(scope: Mapping[str, Any]) -> str:
    """The rate-limit key of an ASGI connection (a WebSocket): the same rules as for an HTTP request."""
    client = scope.get("client") or ("", 0)
    forwarded = [value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"x-forwarded-for"]
    return rate_key(client_ip(peer=str(client[0]), forwarded_for=forwarded))
