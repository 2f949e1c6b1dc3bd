"""A lost or exhausted database connection: recognise it, reconnect and retry, or answer 503 with Retry-After.

PostgreSQL connections come from a bounded pool per process (settings ``DATABASES["default"]["OPTIONS"]["pool"]``).
A connection can be lost under a running process (a failover, ``pg_terminate_backend``, a network cut), and a
request can find the pool exhausted (``psycopg_pool.PoolTimeout``). Neither is a bug in the request: the API and
the pages answer 503 with ``Retry-After`` (apps.core.api.errors, platform_.middleware), and long-running work such
as training reconnects and retries its writes (:func:`retry_on_lost_connection`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
import psycopg_pool
from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Everything a lost, refused or exhausted connection raises: psycopg's own errors (from code that talks to psycopg
# directly) and Django's wrappers of them (the ORM), and the pool's timeout. Django's OperationalError also wraps
# errors that are not about the connection (a deadlock, a statement timeout): is_connection_error() tells them apart.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OperationalError,
    InterfaceError,
    psycopg_pool.PoolTimeout,
)

# SQLSTATEs of a server that dropped or refused the connection: class 08 (connection exception), the server shutting
# down or terminating the backend (57P01 admin_shutdown is what pg_terminate_backend sends, 57P02, 57P03), too many
# connections (53300).
_LOST_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}

# Seconds a client is told to wait before retrying a request that met an unavailable database.
RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = "The database is temporarily unavailable. Retry after the time in the Retry-After header."


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) means the connection is lost, refused or the pool is exhausted."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg_pool.PoolTimeout | psycopg_pool.TooManyRequests):
            return True
        if isinstance(current, psycopg.InterfaceError):
            return True
        if isinstance(current, psycopg.OperationalError):
            sqlstate = getattr(current, "sqlstate", None)
            # No SQLSTATE: raised by the client ("server closed the connection unexpectedly", "the connection is lost").
            return sqlstate is None or sqlstate.startswith("08") or sqlstate in _LOST_SQLSTATES
        if isinstance(current, InterfaceError):
            return True  # Django's "connection already closed"
        current = current.__cause__ or current.__context__
    return False


def discard_connection() -> None:
    """Drop this thread's connection so the next query gets a fresh one (from the pool, which checks it first)."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a dead connection may raise; it is gone either way
        logger.debug("closing a lost database connection raised", exc_info=True)


def retry_on_lost_connection(
    fn: Callable[[], T], attempts: int = 3, *, delay: float = 0.2, max_delay: float = 5.0, what: str = "database write"
) -> T:
    """Call ``fn()``; when it fails because the connection was lost, reconnect and call it again.

    Up to ``attempts`` calls, waiting ``delay`` seconds after the first failure and twice as long after each next one
    (at most ``max_delay``). Other errors, and the last connection error, propagate. Inside an atomic block it never
    retries: the transaction's earlier work is gone with the connection, so only the caller that opened the
    transaction can start it again (call this outside the ``atomic``, with the whole transaction in ``fn``).
    ``fn`` must be safe to repeat: a write whose commit was lost may have been applied.
    """
    wait = delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except CONNECTION_ERRORS as exc:
            if not is_connection_error(exc) or connection.in_atomic_block or attempt == attempts:
                raise
            logger.warning("%s: database connection lost (%s); reconnecting, attempt %s of %s", what, exc, attempt + 1, attempts)
            discard_connection()
            time.sleep(wait)
            wait = min(wait * 2, max_delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
