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

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._retry_at and time.monotonic() < self._retry_at:
            return getattr(self._local, name)(*args, **kwargs)
        try:
            result = getattr(super(), name)(*args, **kwargs)
        except REDIS_DOWN_ERRORS as exc:
            with self._lock:
                self._retry_at = time.monotonic() + settings.CACHE_OUTAGE_RETRY_SECONDS
            warn_outage(SERVICE, exc)
            return getattr(self._local, name)(*args, **kwargs)
        if self._retry_at:
            with self._lock:
                self._retry_at = 0.0
            outage_over(SERVICE)
        return result

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
