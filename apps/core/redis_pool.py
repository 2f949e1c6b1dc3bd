"""One bounded Redis connection pool per process for the cache (rate limits, throttles, shared state).

Django's cache handler builds a backend, and with it a connection pool, per thread; under ASGI each request runs in
a new thread, so every request opened its own Redis connection, kept until garbage collection: 100 concurrent chats
grew the server's clients from 78 to 409. :meth:`SharedConnectionPool.from_url` hands every thread of a process
the same pool for the same URL and options (redis-py pools are thread-safe and reset themselves after a fork). It
holds at most ``REDIS_CACHE_MAX_CONNECTIONS`` per process; a command that finds them all busy waits up to
``REDIS_CACHE_POOL_TIMEOUT`` seconds for one (a Redis command takes well under a millisecond), then fails like an
unreachable Redis, which the cache backend handles as an outage.

Set as ``CACHES["default"]["OPTIONS"]["pool_class"]``; Django's Redis cache builds it with ``from_url``.
"""

from __future__ import annotations

import threading
from typing import Any

import redis

_shared: dict[tuple, SharedConnectionPool] = {}
_shared_lock = threading.Lock()


class SharedConnectionPool(redis.BlockingConnectionPool):
    """A :class:`redis.BlockingConnectionPool` (capped, waiting for a free connection instead of opening more), one
    per process for each URL and options."""

    DEFAULT_MAX_CONNECTIONS = 20
    DEFAULT_TIMEOUT = 5.0

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SharedConnectionPool:
        key = (cls, url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with _shared_lock:
            pool = _shared.get(key)
            if pool is None:
                pool = _shared[key] = super().from_url(url, **kwargs)
            return pool

    def __init__(self, max_connections: int | None = None, timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(
            max_connections=max_connections or self.DEFAULT_MAX_CONNECTIONS,
            timeout=self.DEFAULT_TIMEOUT if timeout is None else timeout,
            **kwargs,
        )


def _channel_layer_base() -> type:
    from channels_redis.core import RedisChannelLayer

    return RedisChannelLayer


class BoundedRedisChannelLayer(_channel_layer_base()):  # type: ignore[misc]
    """channels-redis' layer with a capped pool per event loop (a host's ``max_connections``, default 50, and
    ``pool_timeout`` seconds to wait for a free connection, default 5) instead of one that grows with every
    concurrent ``group_send``: 50 concurrent chats had the web processes holding ~180 channel-layer connections."""

    def create_pool(self, index: int) -> Any:
        import redis.asyncio

        host = dict(self.hosts[index])
        if "address" not in host:
            return super().create_pool(index)
        address = host.pop("address")
        max_connections = int(host.pop("max_connections", 50))
        timeout = float(host.pop("pool_timeout", 5.0))
        return redis.asyncio.BlockingConnectionPool.from_url(address, max_connections=max_connections, timeout=timeout, **host)
