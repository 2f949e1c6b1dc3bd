"""A Redis cache that keeps working while Redis is away.

Throttles (DRF), the chat rate limits and the login throttle keep their counters in the cache. With Django's
``RedisCache`` an unreachable Redis makes every one of those calls raise, and every request answers 500. This
backend answers from a process-local memory cache instead (each process then counts on its own: the limits stay
in force per process, the platform keeps serving), logs one warning per outage (:func:`apps.core.outages.warn_outage`)
and tries Redis again after ``CACHE_OUTAGE_RETRY_SECONDS``. Short socket timeouts make a failed call cost
milliseconds; one retry on a fresh connection covers the pooled sockets a restarted Redis has closed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from apps.core.outages import REDIS_DOWN_ERRORS, outage_over, warn_outage

SERVICE = "cache (Redis)"
# A pooled socket a restarted Redis has closed fails once and is replaced at once; a timeout is not retried (a hung
# Redis would cost two timeouts per call).
_RETRY_ONCE_ON_A_DEAD_SOCKET = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


class ResilientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        timeout = settings.CACHE_SOCKET_TIMEOUT_SECONDS
        options = {"socket_connect_timeout": timeout, "socket_timeout": timeout, "retry": _RETRY_ONCE_ON_A_DEAD_SOCKET, **params.get("OPTIONS", {})}
        super().__init__(server, {**params, "OPTIONS": options})
        local_params = {k: v for k, v in params.items() if k in ("TIMEOUT", "KEY_PREFIX", "VERSION", "KEY_FUNCTION")}
        self._local = LocMemCache(f"resilient-fallback-{id(self)}", {**local_params, "OPTIONS": {"MAX_ENTRIES": 10_000}})
        self._retry_at = 0.0
        self._lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        """True while calls go to the process-local fallback."""
        return self._retry_at > 0.0

    def _resilient(self, on_redis: Any, locally: Any) -> Any:
        if self._retry_at and time.monotonic() < self._retry_at:
            return locally()
        try:
            result = on_redis()
        except REDIS_DOWN_ERRORS as exc:
            with self._lock:
                self._retry_at = time.monotonic() + settings.CACHE_OUTAGE_RETRY_SECONDS
            warn_outage(SERVICE, exc)
            return locally()
        if self._retry_at:
            with self._lock:
                self._retry_at = 0.0
            outage_over(SERVICE)
        return result

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._resilient(lambda: getattr(super(ResilientRedisCache, self), name)(*args, **kwargs),
                               lambda: getattr(self._local, name)(*args, **kwargs))

    def count(self, key: str, timeout: int, version: int | None = None) -> int:
        """Add one to the counter ``key`` (created with ``timeout`` seconds to live) and return it: one Redis round
        trip (a pipelined SET NX + INCR) instead of ``add`` + ``incr``; the rate limits count with it."""

        def on_redis() -> int:
            redis_key = self.make_and_validate_key(key, version=version)
            pipe = self._cache.get_client(redis_key, write=True).pipeline(transaction=False)
            pipe.set(redis_key, 0, ex=timeout, nx=True)
            pipe.incr(redis_key)
            return int(pipe.execute()[1])

        return self._resilient(on_redis, lambda: add_and_incr(self._local, key, timeout, version=version))

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):  # noqa: ANN001, ANN201
        return self._call("add", key, value, timeout, version=version)

    def get(self, key, default=None, version=None):  # noqa: ANN001, ANN201
        return self._call("get", key, default, version=version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):  # noqa: ANN001, ANN201
        return self._call("set", key, value, timeout, version=version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):  # noqa: ANN001, ANN201
        return self._call("touch", key, timeout, version=version)

    def delete(self, key, version=None):  # noqa: ANN001, ANN201
        return self._call("delete", key, version=version)

    def get_many(self, keys, version=None):  # noqa: ANN001, ANN201
        return self._call("get_many", keys, version=version)

    def has_key(self, key, version=None):  # noqa: ANN001, ANN201
        return self._call("has_key", key, version=version)

    def incr(self, key, delta=1, version=None):  # noqa: ANN001, ANN201
        return self._call("incr", key, delta, version=version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):  # noqa: ANN001, ANN201
        return self._call("set_many", data, timeout, version=version)

    def delete_many(self, keys, version=None):  # noqa: ANN001, ANN201
        return self._call("delete_many", keys, version=version)

    def clear(self):  # noqa: ANN201
        self._local.clear()
        return self._call("clear")


def add_and_incr(backend: Any, key: str, timeout: int, version: int | None = None) -> int:  # noqa: ANN401
    """Add one to the counter ``key`` of any cache backend (created with ``timeout`` seconds to live); return it."""
    backend.add(key, 0, timeout, version=version)
    try:
        return backend.incr(key, version=version)
    except ValueError:  # expired between add and incr
        backend.set(key, 1, timeout, version=version)
        return 1


def count(key: str, timeout: int) -> int:
    """Add one to the default cache's counter ``key`` and return it: one Redis round trip with the platform's Redis
    cache (:meth:`ResilientRedisCache.count`, which counts in process memory during an outage), else add + incr."""
    from django.core.cache import cache

    backend_count = getattr(cache, "count", None)
    return backend_count(key, timeout) if backend_count is not None else add_and_incr(cache, key, timeout)
