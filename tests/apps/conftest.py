import pytest

from apps.mlops.serving import model_cache


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    # Each test starts as a freshly started process would: no model loaded yet.
    model_cache.clear()
    yield
    model_cache.clear()


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    # Without Redis the cache lives in this process and outlives a test, while SQLite reuses the row ids a
    # rolled-back test used: a counter keyed by a row id (e.g. a chat rate limit) would leak into the next test.
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()
