"""Start a real Celery worker process against the test database and broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from apps.mlops.models import WorkerHeartbeat
from platform_.celery import app as celery_app
from platform_.queues import ALL_QUEUES
from tests.processes import stop_process_group

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    hostname: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the worker and everything it started: no shutdown handlers run."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def purge_broker() -> None:
    """Drop messages left by earlier test sessions (e.g. a task of a killed worker)."""
    if settings.CELERY_BROKER_URL.startswith("redis"):
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    else:
        with celery_app.connection_for_write() as conn:
            for queue in ("default", "ml_cpu", "ml_gpu"):
                conn.default_channel.queue_purge(queue)


@contextmanager
def celery_worker(
    queues: str = ",".join(ALL_QUEUES), env: dict[str, str] | None = None, timeout: float = 90, pool_args: tuple[str, ...] = ("--pool=solo",)
) -> Iterator[WorkerProcess]:
    """Run ``celery worker --pool=solo`` (as the GPU worker runs; ``pool_args`` for another pool) until the block ends."""
    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log_path = Path(settings.VAR_DIR) / f"worker-{hostname.split('@')[0]}.log"
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "platform_.settings.test",
        "DATABASE_URL": _test_database_url(),
        "TEST_DATABASE_NAME": connection.settings_dict["NAME"],
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    celery_bin = str(Path(sys.executable).parent / "celery")
    cmd = [celery_bin, "-A", "platform_", "worker", "-Q", queues, *pool_args, "-n", hostname,
           "--loglevel=INFO", "--without-gossip", "--without-mingle", "--prefetch-multiplier=1"]
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    with open(log_path, "w") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(process, hostname, log_path)
    try:
        deadline = time.monotonic() + timeout
        while not WorkerHeartbeat.objects.filter(hostname=hostname).exists():
            if process.poll() is not None:
                raise RuntimeError(f"Celery worker exited with {process.returncode}:\n{worker.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker did not become ready in {timeout} s:\n{worker.log()[-4000:]}")
            time.sleep(0.2)
        yield worker
    finally:
        celery_app.conf.task_always_eager = was_eager
        stop_process_group(process)


def wait_for(predicate, timeout: float = 60, interval: float = 0.1, message: str = "condition"):  # noqa: ANN001, ANN201
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


@contextmanager
def redis_everything(settings, url: str) -> Iterator[None]:  # noqa: ANN001 - pytest-django's settings fixture
    """Point this process's cache, channel layer and Celery broker at ``url`` (a test's own redis-server), and
    publish for real (not eagerly) while the block runs."""
    base = settings.CACHES["default"]
    settings.CACHES = {"default": {**base, "BACKEND": "apps.core.cache.ResilientRedisCache", "LOCATION": url}}
    layer = settings.CHANNEL_LAYERS["default"]
    host = {"address": url, "socket_timeout": 30, "socket_connect_timeout": 1}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {**layer.get("CONFIG", {}), "hosts": [host]}}}
    settings.CELERY_BROKER_URL = url
    conf = celery_app.conf
    saved = conf.broker_url, conf.broker_read_url, conf.broker_write_url, conf.task_always_eager, conf.broker_transport_options
    conf.broker_url = conf.broker_read_url = conf.broker_write_url = url
    conf.task_always_eager = False
    # The redis transport options of production (short socket timeouts), whatever broker the suite runs against.
    conf.broker_transport_options = {"visibility_timeout": 3600, "socket_connect_timeout": 2, "socket_timeout": 10}
    _reset_producer_pool()
    try:
        yield
    finally:
        conf.broker_url, conf.broker_read_url, conf.broker_write_url, conf.task_always_eager, conf.broker_transport_options = saved
        _reset_producer_pool()


def _reset_producer_pool() -> None:
    # Celery keeps one connection pool (and a producer pool on top of it) for the broker it first connected to.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
