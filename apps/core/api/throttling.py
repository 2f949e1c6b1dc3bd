"""DRF throttles keyed by the client as `apps.core.clients` sees it (trusted proxies only, IPv6 by /64).

DRF's own ``get_ident`` trusts ``X-Forwarded-For`` by position (``NUM_PROXIES``) whoever sent it; these replace it.
"""

from __future__ import annotations

from rest_framework import throttling

from apps.core.clients import request_client_key


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_ident(self, request) -> str:  # noqa: ANN001
        return request_client_key(request)


class UserRateThrottle(throttling.UserRateThrottle):
    def get_ident(self, request) -> str:  # noqa: ANN001
        return request_client_key(request)
