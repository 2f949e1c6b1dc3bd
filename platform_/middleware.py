"""Platform middleware: the Content-Security-Policy header Django 5.2 does not set itself
(settings.CONTENT_SECURITY_POLICY). 503 instead of 500 when a store is away: apps.core.outages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    """Adds the configured policy to every response that has none yet (a view may set its own)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # noqa: ANN204 - a response, or a coroutine of one under ASGI
        if self.is_async:
            return self._acall(request)
        return self._apply(self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._apply(await self.get_response(request))

    @staticmethod
    def _apply(response: HttpResponse) -> HttpResponse:
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and HEADER not in response:
            response[HEADER] = policy
        return response


def content_security_policy(policy: str) -> Callable:
    """A view decorator for pages that need another policy (third-party pages with inline scripts)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # noqa: ANN002, ANN003
            response = view(request, *args, **kwargs)
            if settings.CONTENT_SECURITY_POLICY:
                response[HEADER] = policy
            return response

        return wrapped

    return decorator
