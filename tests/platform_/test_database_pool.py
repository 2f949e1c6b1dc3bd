"""Bounded PostgreSQL connections under uvicorn: a web process never holds more than its pool, whatever the load.

Before the pool (CONN_MAX_AGE under ASGI) every request thread kept its own connection, and one busy web process
held almost all of the server's ``max_connections``. Here a live uvicorn with a pool of 4 gets 200 concurrent GETs
that all touch the database; its connections, counted by PostgreSQL itself, stay within 4 and nothing answers 5xx
but a 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.db_faults import count_backends, require_postgresql, tagged_database_url
from tests.platform_.live_api import live_asgi_server

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

POOL_MAX = 4


def concurrent_gets(base_url: str, paths: list[str], headers: dict[str, str], timeout: float = 60) -> list[httpx.Response]:
    """GET every path at once (one connection each) and return the responses."""

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(paths), max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, limits=limits) as client:
            return await asyncio.gather(*(client.get(path) for path in paths))

    return asyncio.run(run())


@contextmanager
def peak_backends(application_name: str, interval: float = 0.02) -> Iterator[dict[str, int]]:
    """Sample the backends tagged ``application_name`` while the block runs; ``result["peak"]`` is the most seen."""
    result = {"peak": 0, "samples": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            result["peak"] = max(result["peak"], count_backends(application_name))
            result["samples"] += 1
            done.wait(interval)

    sampler = threading.Thread(target=sample, name="pg-sampler", daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join(timeout=10)


def db_load_paths(n: int) -> list[str]:
    """Requests that each need the database: token authentication plus a query, and the database health check."""
    return ["/api/v1/runs/" if i % 2 else "/healthz?checks=database" for i in range(n)]


def test_a_web_process_never_holds_more_connections_than_its_pool():
    from apps.accounts.scopes import KNOWN_SCOPES
    from tests.factories import UserFactory, token_for

    require_postgresql()
    token = token_for(UserFactory(role="operator"), *KNOWN_SCOPES)
    app_name = f"pool-test-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": tagged_database_url(app_name),
        "DATABASE_POOL": "true",
        "DATABASE_POOL_MIN_SIZE": "1",
        "DATABASE_POOL_MAX_SIZE": str(POOL_MAX),
        "DATABASE_POOL_TIMEOUT": "10",
    }
    with live_asgi_server(env) as url:
        with peak_backends(app_name) as seen:
            responses = concurrent_gets(url, db_load_paths(200), {"Authorization": f"Bearer {token}"})
        after = count_backends(app_name)

    statuses = Counter(r.status_code for r in responses)
    assert seen["samples"] > 5, "the sampler must have watched the load"
    assert 1 <= seen["peak"] <= POOL_MAX, f"the web process held {seen['peak']} connections with a pool of {POOL_MAX}"
    assert after <= POOL_MAX
    unexpected = [r for r in responses if r.status_code >= 500 and not (r.status_code == 503 and r.headers.get("Retry-After"))]
    assert not unexpected, f"5xx without Retry-After: {statuses}"
    for r in responses:
        if r.status_code == 503 and r.request.url.path.startswith("/api/"):
            assert set(r.json()) == {"detail", "errors"}
    assert statuses[200] >= 150, f"most requests are answered, not turned away: {statuses}"


def test_an_exhausted_pool_answers_503_with_retry_after_not_500():
    from apps.accounts.scopes import KNOWN_SCOPES
    from tests.factories import UserFactory, token_for

    require_postgresql()
    token = token_for(UserFactory(role="operator"), *KNOWN_SCOPES)
    app_name = f"pool-test-{uuid.uuid4().hex[:8]}"
    # One connection for the whole process, and requests give up on it after 0.2 s: 100 requests at once cannot all
    # get it in time.
    env = {"DATABASE_URL": tagged_database_url(app_name), "DATABASE_POOL_MAX_SIZE": "1", "DATABASE_POOL_TIMEOUT": "0.2"}
    with live_asgi_server(env) as url:
        with peak_backends(app_name) as seen:
            responses = concurrent_gets(url, ["/api/v1/runs/"] * 100, {"Authorization": f"Bearer {token}"})
        after = concurrent_gets(url, ["/api/v1/runs/"], {"Authorization": f"Bearer {token}"})

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] > 0, f"the pool of 1 was never exhausted: {statuses}"
    for r in responses:
        if r.status_code == 503:
            assert int(r.headers["Retry-After"]) > 0
            assert set(r.json()) == {"detail", "errors"}
    assert seen["peak"] <= 1
    assert after[0].status_code == 200  # and it serves again once the crowd is gone
