import pytest

from apps.mlops.serving import model_cache


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    # Each test starts as a freshly started process would: no model loaded yet.
    model_cache.clear()
    yield
    model_cache.clear()


# Counters a test leaves in the cache: chat rate limits and login failures. Keyed by client address (every test
# is 127.0.0.1) or by a row id (SQLite reuses a rolled-back test's ids), they would otherwise spend the next test's
# budget within the same minute.
_COUNTER_PATTERNS = ("*chatbot:rate:*", "*accounts:login-failures:*")


@pytest.fixture(autouse=True)
def _fresh_counters():
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        cache.clear()
    elif isinstance(cache, RedisCache):
        # Not FLUSHDB: the broker and the channel layer of a running worker may share the database.
        client = cache._cache.get_client(write=True)
        for pattern in _COUNTER_PATTERNS:
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    yield
