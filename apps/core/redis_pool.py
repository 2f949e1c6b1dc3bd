"""One bounded Redis connection pool per process for the cache (rate limits, throttles, shared state).

redis-py's default pool opens a new connection whenever every open one is busy and never closes them: under ASGI,
where each request runs in its own thread, 100 concurrent chats grew the server's clients from 78 to 409. This
pool holds at most ``REDIS_CACHE_MAX_CONNECTIONS`` per process; a command that finds them all busy waits up to
``REDIS_CACHE_POOL_TIMEOUT`` seconds for one (a Redis command takes well under a millisecond), then fails like an
unreachable Redis, which the cache backend handles as an outage.

Set as ``CACHES["default"]["OPTIONS"]["pool_class"]``; Django's Redis cache builds it with ``from_url``.
"""

from __future__ import annotations

from typing import Any

import redis


class SharedConnectionPool(redis.BlockingConnectionPool):
    """A :class:`redis.BlockingConnectionPool`: capped, and waiting for a free connection instead of opening more."""

    DEFAULT_MAX_CONNECTIONS = 20
    DEFAULT_TIMEOUT = 5.0

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
