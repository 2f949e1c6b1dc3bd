"""/healthz: is the database reachable, the broker reachable, and is a worker consuming each queue?

Anyone (a load balancer) gets the status code and which checks passed; only a signed-in operator or admin gets the
details (database vendor, worker hostnames, queues, error text), which would otherwise map the deployment for anyone.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from apps.core.database import CONNECTION_ERRORS, discard_connection, is_connection_error, retry_on_lost_connection
from apps.mlops.selectors import workers_alive
from platform_.celery import app as celery_app
from platform_.queues import ALL_QUEUES


def _timed(check) -> dict:  # noqa: ANN001
    started = time.perf_counter()
    try:
        detail = check() or {}
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **detail}
    except Exception as exc:  # noqa: BLE001 - a health check reports failures, it never raises them
        if is_connection_error(exc):
            discard_connection()  # the next check (and request) gets a fresh connection, not this dead one
        return {"ok": False, "ms": round((time.perf_counter() - started) * 1000, 1), "error": f"{type(exc).__name__}: {exc}"}


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _database() -> dict:
    # One reconnect: a connection the server dropped earlier says nothing about now; a database that is down fails
    # both tries and the check reports it.
    retry_on_lost_connection(_select_one, attempts=2, delay=0.1, what="/healthz")
    return {"vendor": connection.vendor}


def _broker() -> dict:
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"transport": conn.transport_cls if isinstance(conn.transport_cls, str) else conn.transport.driver_name}


def _workers() -> dict:
    alive = workers_alive()
    covered = {q for w in alive for q in w.queues}
    missing = [q for q in ALL_QUEUES if q not in covered]
    result = {"alive": [{"hostname": w.hostname, "queues": w.queues, "last_seen_at": w.last_seen_at.isoformat()} for w in alive]}
    if not alive:
        raise RuntimeError("no Celery worker has sent a heartbeat in the last 45 s")
    if missing:
        result["queues_without_worker"] = missing
    return result


CHECKS = {"database": _database, "broker": _broker, "workers": _workers}


def _is_operator(request: HttpRequest) -> bool:
    # The user comes from the session, in the database: with the database away the answer is still the health JSON
    # (as for anyone else), never an error page.
    try:
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated and getattr(user, "is_operator", False))
    except CONNECTION_ERRORS as exc:
        if not is_connection_error(exc):
            raise
        discard_connection()
        return False


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """All checks by default; ``?checks=database`` limits them (a web container's own liveness probe)."""
    wanted = [c for c in request.GET.get("checks", "").split(",") if c] or list(CHECKS)
    unknown = sorted(set(wanted) - set(CHECKS))
    if unknown:
        return JsonResponse({"detail": f"Unknown check(s): {', '.join(unknown)}.", "errors": {"checks": [f"Choose from {', '.join(CHECKS)}."]}}, status=400)
    checks = {name: _timed(CHECKS[name]) for name in wanted}
    healthy = all(c["ok"] for c in checks.values())
    if not _is_operator(request):
        checks = {name: {"ok": c["ok"]} for name, c in checks.items()}
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)
