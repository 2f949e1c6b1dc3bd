"""Platform middleware: the Content-Security-Policy header Django 5.2 does not set itself
(settings.CONTENT_SECURITY_POLICY), and 503 instead of 500 when the database is unavailable."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.database import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, discard_connection, is_connection_error

logger = logging.getLogger(__name__)
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


class DatabaseUnavailableMiddleware:
    """A view that lost its database connection, or found the pool exhausted, answers 503 with Retry-After, not 500.

    The REST API gets the same answer from its exception handler (apps.core.api.errors); this covers the pages and
    the other views: a short page for a browser asking for HTML, the API's JSON error body otherwise. The thread's connection
    is dropped, so the next request gets a fresh one from the pool.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # noqa: ANN204 - a response, or a coroutine of one under ASGI
        return self.get_response(request)  # a coroutine under ASGI; the work is in process_exception

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_connection_error(exception):
            return None
        logger.warning("%s %s: database unavailable (%s: %s); answered 503", request.method, request.path, type(exception).__name__, exception)
        discard_connection()
        # A page for a browser navigating (it asks for text/html); JSON for the API and for scripts (fetch, widget).
        if request.path.startswith("/api/") or "text/html" not in request.headers.get("Accept", ""):
            response: HttpResponse = JsonResponse({"detail": DATABASE_UNAVAILABLE, "errors": {}}, status=503)
        else:
            response = HttpResponse(
                "<!doctype html><title>Temporarily unavailable</title><h1>Temporarily unavailable</h1>"
                f"<p>The database cannot be reached right now. This page will work again in a moment: reload it in {RETRY_AFTER_SECONDS} seconds.</p>",
                status=503, content_type="text/html; charset=utf-8",
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
