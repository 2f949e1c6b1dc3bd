"""The public-address guard: one check for every URL a user gives that a server process will connect to.

A URL chosen by an API client must not turn the platform into a proxy into the deployment's own network
(server-side request forgery): its host must resolve only to public addresses, unless the deployment allows
private networks (a webhook receiver on the LAN, cameras on a private camera network) wholesale or by CIDR.
Used by outbound webhooks (apps.core.webhooks) and traffic stream URLs (apps.traffic.services).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322}


class AddressRefused(ValueError):
    """The URL may not be connected to: its scheme, or a host in a network the platform does not reach."""


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def address_check(address: str, host: str, *, allow_private: bool = False, allowed_networks: Iterable[str] = (), hint: str = "") -> None:
    """Raise :class:`AddressRefused` unless ``address`` (what ``host`` resolved to) is public or explicitly allowed."""
    if allow_private or address_is_public(address):
        return
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in allowed_networks):
        return
    raise AddressRefused(f"{host} resolves to {address}, a loopback, private, link-local or reserved address; {hint}".rstrip("; "))


def url_check(url: str, *, schemes: Iterable[str], allow_private: bool = False, allowed_networks: Iterable[str] = (), hint: str = "") -> None:
    """Raise :class:`AddressRefused` unless ``url`` has one of ``schemes``, a host, and every address of the host passes
    :func:`address_check`."""
    schemes = tuple(schemes)
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise AddressRefused(f"Give a URL with a host name starting with {' or '.join(s + '://' for s in schemes)}.")
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except ValueError as exc:  # a port out of range
        raise AddressRefused(f"Invalid URL: {exc}.") from None
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"The host {parts.hostname} cannot be resolved ({exc}).") from None
    for info in infos:
        address_check(info[4][0], parts.hostname, allow_private=allow_private, allowed_networks=allowed_networks, hint=hint)


def url_redact_credentials(url: str) -> str:
    """``url`` with any user name and password replaced by ``***`` (rtsp://***@camera/stream), for display."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed (e.g. an unclosed IPv6 bracket): hide everything up to the last "@"
        scheme, sep, rest = url.partition("://")
        return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}" if "@" in rest else url
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()
