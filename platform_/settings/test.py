"""Test settings: real PostgreSQL and Redis.

With DOWNSTREAM_REQUIRE_SERVICES=1 (CI) an unreachable PostgreSQL or Redis fails the run. Without it, a developer
machine lacking them falls back to SQLite and the file-system broker, so `make test` still runs everything.
"""

import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

_ROOT = Path(__file__).resolve().parent.parent.parent
_REQUIRE = os.environ.get("DOWNSTREAM_REQUIRE_SERVICES") == "1"
os.environ.setdefault("DOWNSTREAM_VAR_DIR", str(_ROOT / "var" / "test"))


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("sqlite", "filesystem", "memory"):
        return True  # nothing to connect to (a worker started by the tests gets the SQLite test file this way)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=1):
            return True
    except OSError:
        return False


def _service(var: str, default: str, fallback: str, what: str) -> None:
    url = os.environ.get(var, default)
    if _reachable(url):
        os.environ[var] = url
    elif _REQUIRE:
        raise SystemExit(f"DOWNSTREAM_REQUIRE_SERVICES=1 but {what} at {url} is unreachable ({var}).")
    else:
        sys.stderr.write(f"[tests] {what} at {url} unreachable: falling back to {fallback}\n")
        os.environ[var] = fallback


_service("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/downstream", f"sqlite:///{_ROOT / 'var' / 'test' / 'db.sqlite3'}", "PostgreSQL")
_service("REDIS_URL", "redis://127.0.0.1:6379/15", "", "Redis")
os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"] or "filesystem://")
os.environ.setdefault("MLOPS_HEARTBEAT_SECONDS", "1")

from .base import *  # noqa: E402, F403
from .base import DATABASES, REST_FRAMEWORK, VAR_DIR  # noqa: E402

SECRET_KEY = "test-only-secret-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A file, not memory, so that a real worker process can share the SQLite test database.
_test_db = "downstream_test" if DATABASES["default"]["ENGINE"].endswith("postgresql") else str(VAR_DIR / "test-db.sqlite3")
DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get("TEST_DATABASE_NAME", _test_db)
# Unit tests run tasks inline; tests/workers.py switches this off while a real worker runs.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "10000/min", "user": "10000/min"}
# Many tests talk to the widget from 127.0.0.1 within one minute; the tests of these limits lower them.
CHATBOT_WIDGET_REQUESTS_PER_MINUTE = 100_000
CHATBOT_SITE_SESSIONS_PER_MINUTE = 100_000
MLOPS_SERVING_REFRESH_SECONDS = 0.0
# The browser tests use the demo shop page; tests/apps/chatbot/test_identity.py turns demo mode off.
DOWNSTREAM_DEMO = True
# Test receivers listen on 127.0.0.1; tests/apps/core/test_webhooks.py switches the guard back on.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
# Test streams are served from 127.0.0.1; tests/apps/traffic/test_stream_urls.py switches the guard back on.
TRAFFIC_ALLOW_PRIVATE_STREAMS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
