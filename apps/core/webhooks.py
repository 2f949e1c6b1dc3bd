"""Outbound webhooks: the one way the platform POSTs JSON to a URL.

A callback URL chosen by an API client must not turn the workers into a proxy into the deployment's own network
(server-side request forgery). Unless ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` is on, a URL is refused when its host
resolves to a loopback, private, link-local (cloud metadata), multicast or reserved address: once when it is
submitted (a clear 400) and again on the socket actually connected at delivery, so a DNS answer that changes in
between (rebinding) gains nothing. Redirects are not followed, since one could point anywhere. Proxies from the
environment are not used: the checked address is the one connected.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


class WebhookRefused(ValueError):
    """The URL may not be called (scheme, or a host in a network the platform does not post to). Not retried."""


class WebhookFailed(OSError):
    """The receiver could not be reached or did not answer 2xx: a transient error that tasks retry."""


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _check_address(address: str, host: str) -> None:
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS and not _address_allowed(address):
        raise WebhookRefused(
            f"{host} resolves to {address}, a loopback, private, link-local or reserved address; "
            "webhooks go to public addresses only (WEBHOOK_ALLOW_PRIVATE_NETWORKS allows internal receivers)."
        )


def webhook_url_check(url: str) -> None:
    """Raise :class:`WebhookRefused` unless ``url`` is http(s) with a host the platform may post to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("Give an http:// or https:// URL with a host name.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except ValueError as exc:  # a port out of range
        raise WebhookRefused(f"Invalid URL: {exc}.") from None
    except OSError as exc:
        raise WebhookRefused(f"The host {parts.hostname} cannot be resolved ({exc}).") from None
    for info in infos:
        _check_address(info[4][0], parts.hostname)


def webhook_url_validator(url: str) -> None:
    """Django/DRF field validator: a refused callback URL is a validation error on that field."""
    try:
        webhook_url_check(url)
    except WebhookRefused as exc:
        raise ValidationError(str(exc)) from None


def _guarded_create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
    sock = socket.create_connection(address, *args, **kwargs)
    try:
        _check_address(sock.getpeername()[0], address[0])
    except WebhookRefused:
        sock.close()
        raise
    return sock


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req, context=self._context)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError: a receiver must answer at the URL it was given


_OPENER = urllib.request.OpenerDirector()
for _handler in (
    urllib.request.ProxyHandler({}),
    _HTTPHandler(),
    _HTTPSHandler(),
    _NoRedirect(),
    urllib.request.HTTPDefaultErrorHandler(),
    urllib.request.HTTPErrorProcessor(),
):
    _OPENER.add_handler(_handler)


def webhook_post(url: str, payload: Any, *, timeout: float, user_agent: str = "downstream") -> int:
    """POST ``payload`` as JSON; returns the 2xx status. Raises :class:`WebhookRefused` (do not retry) or
    :class:`WebhookFailed` (network error, timeout or a non-2xx answer: retry later)."""
    webhook_url_check(url)
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json", "User-Agent": user_agent}, method="POST"
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise WebhookFailed(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise WebhookFailed(f"{url} unreachable: {getattr(exc, 'reason', exc)}") from None
    if not 200 <= status < 300:
        raise WebhookFailed(f"{url} answered HTTP {status}")
    return status
