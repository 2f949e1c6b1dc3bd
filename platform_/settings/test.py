"""Test settings: real PostgreSQL and Redis by default (see tests/conftest.py for the fallbacks)."""

import os

# Decided before base reads the environment, so the test run never touches a developer's var/ database.
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/downstream")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
os.environ.setdefault("DOWNSTREAM_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "var", "test"))

from .base import *  # noqa: E402, F403
from .base import DATABASES  # noqa: E402

SECRET_KEY = "test-only-secret-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get("TEST_DATABASE_NAME", "downstream_test")
# Tests that need a worker start a real one (tests/workers.py); everything else runs tasks inline.
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "1") == "1"
CELERY_TASK_EAGER_PROPAGATES = True
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "10000/min", "user": "10000/min"}  # noqa: F405
MLOPS_SERVING_REFRESH_SECONDS = 0.0
