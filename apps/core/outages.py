"""Degrade, don't fail: what the platform does while Redis (cache, broker, channel layer) is unreachable.

- :func:`warn_outage` logs one warning when a service goes away and :func:`outage_over` one line when it is back,
  so an outage costs two log lines per process, not one per request.
- :func:`broker_send` wraps every Celery dispatch of a request: when the broker cannot take the message it undoes
  what the request created (or leaves it for a reaper) and raises :class:`ServiceUnavailable`, which the API answers
  with 503, ``Retry-After`` and the ``{"detail", "errors"}`` body, and :class:`ServiceUnavailableMiddleware` answers
  with a 503 page for the dashboard.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status

from apps.core.database import DATABASE_UNAVAILABLE, discard_connection, is_connection_error
from apps.core.database import RETRY_AFTER_SECONDS as DATABASE_RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)

# What "the service is unreachable" looks like from redis-py and from kombu (which wraps the transport's errors).
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError)
BROKER_DOWN_ERRORS: tuple[type[BaseException], ...] = (KombuOperationalError, *REDIS_DOWN_ERRORS, ConnectionError, TimeoutError)

SERVICE_UNAVAILABLE = "service_unavailable"

_lock = threading.Lock()
_down_since: dict[str, float] = {}


def warn_outage(service: str, exc: BaseException | None = None) -> bool:
    """Record that ``service`` is unreachable; logs a warning only for the first failure of an outage.

    Returns True when this call began the outage."""
    with _lock:
        if service in _down_since:
            return False
        _down_since[service] = time.monotonic()
    cause = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    logger.warning("%s is unreachable%s; degrading until it is back", service, cause)
    return True


def outage_over(service: str) -> None:
    """Record that ``service`` answers again (one info line if it had been down)."""
    if service not in _down_since:  # the common case, without the lock
        return
    with _lock:
        started = _down_since.pop(service, None)
    if started is not None:
        logger.warning("%s is reachable again after %.1f s", service, time.monotonic() - started)


def in_outage(service: str) -> bool:
    return service in _down_since


class ServiceUnavailable(exceptions.APIException):
    """503 with ``Retry-After`` (DRF's handler sends ``wait`` as that header)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is briefly unavailable; nothing was changed. Retry in a few seconds."
    default_code = SERVICE_UNAVAILABLE

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.wait = retry_after if retry_after is not None else settings.OUTAGE_RETRY_AFTER_SECONDS


def broker_send(send: Callable[[], Any], *, what: str, undo: Callable[[], Any] | None = None, required: bool = True) -> bool:
    """Hand a message to the broker; called from ``transaction.on_commit`` at every dispatch site.

    When the broker is unreachable: ``undo`` removes what the request created (so that the 503 means "nothing
    happened, send it again"), and :class:`ServiceUnavailable` is raised — unless ``required`` is False (a
    notification, or a row a reaper re-dispatches), which only logs. Returns True when the message was sent."""
    try:
        send()
    except BROKER_DOWN_ERRORS as exc:
        warn_outage("broker", exc)
        if undo is not None:
            try:
                undo()
            except Exception:  # noqa: BLE001 - the 503 matters more than a failed clean-up, which is logged
                logger.exception("could not undo %s after the broker refused it", what)
        if required:
            raise ServiceUnavailable(f"The task queue is unreachable, so {what} could not be started; nothing was changed. Retry in a few seconds.") from exc
        logger.warning("%s not dispatched: the broker is unreachable", what)
        return False
    outage_over("broker")
    return True


def redispatch(kind: str, pk: int, send: Callable[[], bool]) -> bool:
    """Call ``send`` (a dispatch returning whether the broker took it) for one row a reaper found still waiting, at
    most once per ``REDISPATCH_QUEUED_AFTER_SECONDS``: a reaper running every 30 s must not pile up messages for a
    row that merely waits behind a long queue. A send the broker refused is tried again at the next beat."""
    from django.core.cache import cache

    key = f"outages:redispatch:{kind}:{pk}"
    if not cache.add(key, 1, timeout=settings.REDISPATCH_QUEUED_AFTER_SECONDS):
        return False
    if send():
        return True
    cache.delete(key)
    return False


def service_unavailable_response(request: HttpRequest, detail: str, retry_after: int) -> HttpResponse:
    """The 503 answer outside DRF: a short page for a browser navigating (it asks for text/html, or a client that
    names nothing), the API's JSON body under /api/ and for scripts (fetch, the widget)."""
    accept = request.META.get("HTTP_ACCEPT", "")
    if request.path.startswith("/api/") or (accept and "text/html" not in accept):
        response: HttpResponse = JsonResponse({"detail": detail, "errors": {}}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    else:
        from django.template.loader import render_to_string

        # No request context: its processors may need the database that is away.
        body = render_to_string("core/503.html", {"detail": detail, "retry_after": retry_after, "path": request.get_full_path()})
        response = HttpResponse(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    response["Retry-After"] = str(retry_after)
    return response


class ServiceUnavailableMiddleware(MiddlewareMixin):
    """A :class:`ServiceUnavailable`, a lost database connection or an exhausted pool, or a Redis/broker connection
    error nobody caught, is a 503 with Retry-After, never a 500.

    DRF views answer these themselves (apps.core.api.errors); this covers the pages and the other views (the
    dashboard's Retrain button, JSON views of the pages). A broken database connection is dropped, so the next
    request gets a fresh one from the pool. Innermost in MIDDLEWARE: it sees a view's exception first."""

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, ServiceUnavailable):
            return service_unavailable_response(request, str(exc.detail), int(exc.wait))
        if is_connection_error(exc):
            logger.warning("%s %s: database unavailable (%s: %s); answered 503", request.method, request.path, type(exc).__name__, exc)
            discard_connection()
            return service_unavailable_response(request, DATABASE_UNAVAILABLE, DATABASE_RETRY_AFTER_SECONDS)
        if isinstance(exc, BROKER_DOWN_ERRORS):
            warn_outage("Redis or the broker", exc)
            return service_unavailable_response(request, ServiceUnavailable.default_detail, settings.OUTAGE_RETRY_AFTER_SECONDS)
        return None
