import pytest

from apps.mlops.serving import model_cache


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    # Each test starts as a freshly started process would: no model loaded yet.
    model_cache.clear()
    yield
    model_cache.clear()
