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
import json
import socket
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.netguard import AddressRefused, address_check, url_check

_HINT = "webhooks go to public addresses only (WEBHOOK_ALLOW_PRIVATE_NETWORKS allows internal receivers)."


class WebhookRefused(AddressRefused):
    """The URL may not be called (scheme, or a host in a network the platform does not post to). Not retried."""


class WebhookFailed(OSError):
    """The receiver could not be reached or did not answer 2xx: a transient error that tasks retry."""


def _check_address(address: str, host: str) -> None:
    try:
        address_check(address, host, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS, hint=_HINT)
    except AddressRefused as exc:
        raise WebhookRefused(str(exc)) from None


def webhook_url_check(url: str) -> None:
    """Raise :class:`WebhookRefused` unless ``url`` is http(s) with a host the platform may post to."""
    try:
        url_check(url, schemes=("http", "https"), allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS, hint=_HINT)
    except AddressRefused as exc:
        raise WebhookRefused(str(exc)) from None


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
