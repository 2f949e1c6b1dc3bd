"""Shared fixtures. Imports stay inside the fixtures: tests/ml needs no Django and must not load it."""

import pytest


@pytest.fixture
def operator(db):
    from tests.factories import UserFactory

    return UserFactory(role="operator")


@pytest.fixture
def admin_user(db):
    from tests.factories import AdminFactory

    return AdminFactory()


@pytest.fixture
def operator_client(operator):
    from django.test import Client

    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def admin_client_(admin_user):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def chromium():
    """Path of Debian's chromium; skipped where it is missing, a failure where services are required (CI)."""
    import os

    from tests.browser import CHROMIUM

    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("DOWNSTREAM_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def screenshots():
    """A folder under var/ for screenshots of failing browser tests."""
    from pathlib import Path

    from django.conf import settings

    path = Path(settings.VAR_DIR) / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path



@pytest.fixture
def empty_broker():
    """No task left in the broker's queues before and after a test that runs a real worker."""
    from tests.workers import purge_broker

    purge_broker()
    yield
    purge_broker()

# A test stopped by pytest-timeout can leave a worker thread blocked for good (an event loop that async_to_sync
# runs in its executor, a socket read). Python waits for such threads at exit, so the run would print its summary
# and then hang until CI's own limit. After a timeout, end the process with pytest's exit status instead.
_TIMED_OUT: list[str] = []


def pytest_runtest_logreport(report):
    if report.failed and "Timeout" in str(report.longrepr):
        _TIMED_OUT.append(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if _TIMED_OUT:
        import os
        import sys

        print(f"\n{len(_TIMED_OUT)} test(s) timed out ({', '.join(_TIMED_OUT)}); exiting without waiting for their threads.", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(getattr(config, "_downstream_exitstatus", 1)) or 1)


def pytest_sessionfinish(session, exitstatus):
    session.config._downstream_exitstatus = exitstatus


# Ports of the redis-servers the fault drills start and stop (never the shared Redis). REDIS_DRILL_PORTS
# ("6391-6399") gives another range, e.g. to run two checkouts side by side.
def _drill_ports() -> range:
    import os

    first, _, last = os.environ.get("REDIS_DRILL_PORTS", "6391-6399").partition("-")
    return range(int(first), int(last or first) + 1)


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own on a free drill port; the test may stop() and start() it."""
    import shutil

    from tests.processes import RedisServer, free_port

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(_drill_ports()), str(tmp_path))
    server.start()
    yield server
    server.stop()
