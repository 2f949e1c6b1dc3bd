"""Shared by the benchmarks that run the app as in production: settings, database, Redis, gunicorn, load clients.

No Django here (the scripts import this before ``django.setup()``); Django, psycopg, redis and httpx are imported
inside the functions that need them.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import _report

ROOT = _report.ROOT
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.processes import stop_process_group  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
THROTTLE = "1000000/min"  # the default 1200/min would throttle a benchmark, not measure it
SETTINGS_MODULE = "platform_.settings.production"
# Production refuses a placeholder key; one random key per benchmark run, shared by its web and worker processes.
_SECRET_KEY = secrets.token_urlsafe(64)


def production_env(db_name: str, redis_url: str, var_dir: Path, *, broker_url: str | None = None, **extra: str) -> dict[str, str]:
    """Production settings (DEBUG off) on database ``db_name``; ``redis_url`` is the cache and result backend, and the
    broker too unless ``broker_url`` is given. ``extra`` variables are added last (and win)."""
    return {
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "DJANGO_SECRET_KEY": _SECRET_KEY,
        # The benchmarks talk plain HTTP to 127.0.0.1; production would redirect them to HTTPS.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker_url or redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "API_THROTTLE_USER": THROTTLE,
        "DOWNSTREAM_VAR_DIR": str(var_dir),
        "ML_DEVICE": "cpu",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def activate(env: dict[str, str]) -> Path:
    """Put ``env`` into this process's environment (before ``django.setup()``) and create its var dir. Returns it.

    ``staticfiles/`` only so whitenoise does not warn about a missing STATIC_ROOT; the benchmarks serve no static files.
    """
    os.environ.update(env)
    var = Path(env["DOWNSTREAM_VAR_DIR"])
    (var / "staticfiles").mkdir(parents=True, exist_ok=True)
    return var


# --- PostgreSQL and Redis -------------------------------------------------------------------------------


def ensure_database(db_name: str) -> bool:
    """Create ``db_name`` when it is missing; an existing one is kept. Returns whether it was created."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,)).fetchone() is not None:
            return False
        conn.execute(f'CREATE DATABASE "{db_name}"')
        return True


def fresh_database(db_name: str) -> None:
    """Drop ``db_name`` (closing its connections) and create it empty."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')


def migrate(env: dict[str, str], timeout: float = 300) -> None:
    """``manage.py migrate`` in a subprocess with ``env``."""
    cmd = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, check=True, timeout=timeout)


def flush_redis(urls: Iterable[str]) -> None:
    """FLUSHDB each Redis database in ``urls``."""
    import redis

    for url in urls:
        client = redis.Redis.from_url(url, socket_timeout=5)
        client.flushdb()
        client.close()


# --- the demo chatbot -----------------------------------------------------------------------------------


def seed_demo_chatbot(env: dict[str, str], db_name: str, *, fresh: bool, shop: bool = False) -> str:
    """Migrate ``db_name`` (dropped first when ``fresh``), seed the demo chatbot (site, intents, FAQ) and, with
    ``shop``, the demo shop (catalog, customers, the demo customer's orders), and train the demo intent model through
    the real training task unless the database already has one that can be read. Runs ``django.setup()`` in this
    process (``env`` must be active) and closes its connections to the database before returning. Returns the intent
    model's version, e.g. ``v1``."""
    if fresh:
        fresh_database(db_name)
    else:
        ensure_database(db_name)
    migrate(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from apps.chatbot.demo import seed_demo
    from apps.chatbot.families import INTENT_FAMILY
    from apps.mlops import services
    from apps.mlops.models import Trigger
    from apps.mlops.selectors import production_version
    from ml.artifacts import ArtifactError, open_store

    def close() -> None:
        connection.close()
        if getattr(connection, "pool", None) is not None:
            connection.close_pool()  # this process holds no connection to the database while it measures

    _report.log(seed_demo())
    if shop:
        from apps.commerce.demo import seed_demo_shop

        _report.log(seed_demo_shop())
    version = production_version(family=INTENT_FAMILY)
    if version is not None and not fresh:
        try:
            open_store(settings.ARTIFACT_STORE_URI).fetch(version.artifact_uri, version.artifact_sha256)
        except ArtifactError as exc:  # the database outlived the artifacts (another checkout, a cleaned var/)
            _report.log(f"the database's intent model cannot be read ({exc}): starting the database afresh")
            close()
            return seed_demo_chatbot(env, db_name, fresh=True, shop=shop)
    if version is None:
        _report.log("training the demo intent model (once per database)…")
        run = services.training_run_start(family=INTENT_FAMILY, trigger=Trigger.CLI, dispatch=False)
        run = services.training_run_execute(run_id=run.pk, worker="bench")
        version = production_version(family=INTENT_FAMILY)
        if version is None:
            raise RuntimeError(f"intent training ended {run.status}: {run.error[:500]}")
    close()
    return f"v{version.version}"


# --- subprocesses ---------------------------------------------------------------------------------------


def json_child(script: str, env: dict[str, str], timeout: float, args: tuple[str, ...] = ()) -> dict:
    """Run ``script`` in a fresh Python with ``env`` (over this process's environment) from the repository root; its
    last stdout line is JSON. An OOM kill is reported, not hidden."""
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        killed = proc.returncode < 0
        raise RuntimeError(f"child {'killed by signal ' + str(-proc.returncode) if killed else 'exited ' + str(proc.returncode)}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def process(name: str, cmd: list[str], env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, Path]]:
    """Run ``cmd`` in its own process group, output to ``<var dir>/<name>.log``; SIGTERM (then SIGKILL) the whole
    group when the block ends. Yields the process and its log path."""
    log_path = Path(env["DOWNSTREAM_VAR_DIR"]) / f"{name}.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, log_path
    finally:
        stop_process_group(proc, timeout=30)


def fail_if_exited(proc: subprocess.Popen, name: str, log_path: Path) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")


def server_description(args: list[str]) -> str:
    """``gunicorn -w 2 --threads 4 (gthread)`` for ``["-w", "2", "--threads", "4", "-k", "gthread", ...]``."""
    workers, threads, worker_class = (args[args.index(flag) + 1] for flag in ("-w", "--threads", "-k"))
    return f"gunicorn -w {workers} --threads {threads} ({worker_class})"


@contextmanager
def start_gunicorn(env: dict[str, str], args: list[str], *, request_timeout: int, start_timeout: float, poll_s: float = 0.2) -> Iterator[tuple[str, int]]:
    """Serve ``platform_.wsgi`` with gunicorn ``args`` on a free port (log: ``<var dir>/gunicorn.log``) and wait until
    ``/healthz`` answers anything (a 503 without a Celery worker is fine). Yields ``(base_url, healthz_status)``;
    the server's process group is stopped when the block ends."""
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(VENV_BIN / "gunicorn"), "platform_.wsgi:application", *args, "-b", f"127.0.0.1:{port}", "--timeout", str(request_timeout)]
    with process("gunicorn", cmd, env) as (proc, log_path):
        deadline = time.monotonic() + start_timeout
        while True:
            fail_if_exited(proc, "gunicorn", log_path)
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer /healthz in {start_timeout} s") from None
                time.sleep(poll_s)
        yield base, health.status_code


def uvicorn_cmd(port: int, workers: int) -> list[str]:
    """uvicorn serving ``platform_.asgi`` on ``port`` as ``docker/compose.yaml`` runs the web service, behind a trusted
    proxy at 127.0.0.1 (``X-Forwarded-For`` names the client)."""
    return [
        str(VENV_BIN / "uvicorn"),
        "platform_.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--ws-max-size",
        "16384",
        # Not in compose: only so that the benchmark does not wait 30 s for its sockets when it stops the server.
        "--timeout-graceful-shutdown",
        "3",
    ]


@contextmanager
def start_uvicorn(env: dict[str, str], workers: int, *, start_timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """Serve the app with :func:`uvicorn_cmd` on a free port (log: ``<var dir>/uvicorn.log``) and wait until
    ``/healthz`` answers anything. Yields ``(base_url, process, log_path)``; the server's process group is stopped
    when the block ends."""
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with process("uvicorn", uvicorn_cmd(port, workers), env) as (proc, log_path):
        deadline = time.monotonic() + start_timeout
        while True:
            fail_if_exited(proc, "uvicorn", log_path)
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not answer /healthz in {start_timeout} s") from None
                time.sleep(0.3)
        yield base, proc, log_path


# --- load -----------------------------------------------------------------------------------------------


def measure_concurrent(
    next_url: Callable[[random.Random], str],
    is_ok: Callable[[object], bool],
    *,
    headers: dict[str, str],
    clients: int,
    warmup: int,
    requests: int,
    http_timeout: float,
    warmup_timeout: float | None = None,
    barrier_timeout: float = 120,
    join_slack: float = 30,
) -> dict[str, float | int]:
    """``clients`` threads, each with its own keep-alive connection, send ``warmup`` untimed GETs, wait for all the
    others, then ``requests`` timed GETs to ``next_url(rng)`` (``rng`` seeded with the client's index). A request is
    an error when it raises or ``is_ok(response)`` is false. Returns p50/p95/mean ms and n (all timed requests,
    errors included), ``rps`` (timed requests ÷ wall time of the timed part) and ``errors``."""
    import httpx

    latencies: list[list[int]] = [[] for _ in range(clients)]
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1, timeout=barrier_timeout)
    go = threading.Barrier(clients + 1, timeout=barrier_timeout)

    def client(index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(headers=headers, timeout=http_timeout) as http:
            for _ in range(warmup):  # the first requests load code and models in each server process: no timing
                http.get(next_url(rng), timeout=warmup_timeout or http_timeout)
            ready.wait()
            go.wait()
            for _ in range(requests):
                url = next_url(rng)
                started = time.perf_counter_ns()
                try:
                    response = http.get(url)
                    problem = "" if is_ok(response) else f"{response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                latencies[index].append(time.perf_counter_ns() - started)
                if problem:
                    with lock:
                        errors.append(problem)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()  # every client warmed up and holds an open keep-alive connection
    go.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=requests * http_timeout + join_slack)
    wall = time.perf_counter() - started
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a client thread did not finish")
    samples = [s for per_client in latencies for s in per_client]
    stats = _report.summarise_ms(samples)
    if errors:
        _report.log(f"{len(errors)} errors, first: {errors[0]}")
    return {**stats, "rps": round(len(samples) / wall, 1), "errors": len(errors)}
