"""Platform overhead: a Celery no-op round trip, and the model-list API under 20 concurrent clients.

Run from the repository root (``make bench``)::

    .venv/bin/python tests/benchmarks/platform_overhead.py

Needs PostgreSQL on 127.0.0.1:5432 (user ``postgres``) and Redis on 127.0.0.1:6379. It uses its own database
(``downstream_bench``, created when missing) and Redis dbs 13 (broker) and 12 (results and cache), both flushed at
the start; it starts a real Celery worker and a real gunicorn server with production settings (DEBUG off), and
stops them before it exits. The last line of stdout is one JSON object; docs/benchmarks.md gets a
``## platform_overhead`` section.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import _report

ROOT = _report.ROOT
sys.path.insert(0, str(ROOT))
from tests.processes import stop_process_group  # noqa: E402

VENV_BIN = Path(sys.executable).parent
VAR = ROOT / "var" / "bench"

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "downstream_bench"
BROKER_URL = "redis://127.0.0.1:6379/13"
RESULTS_URL = "redis://127.0.0.1:6379/12"
THROTTLE = "1000000/min"  # the default 1200/min would throttle this benchmark, not measure it
WORKER_NAME = "bench@%h"
# No control socket: gunicorn would otherwise create ~/.gunicorn/gunicorn.ctl.
SERVER_ARGS = ["-w", "2", "--threads", "4", "-k", "gthread", "--no-control-socket"]
SERVER = "gunicorn -w 2 --threads 4 (gthread)"

NOOP_WARMUP, NOOP_N, NOOP_TIMEOUT = 20, 300, 10.0
CLIENTS, WARMUP_PER_CLIENT, REQUESTS_PER_CLIENT, HTTP_TIMEOUT = 20, 5, 50, 10.0
MODEL_VERSIONS = 5  # registered before the API run so the list is not empty
START_TIMEOUT = 90.0  # a worker or server that is not answering after this long fails the run

ENV = {
    "DJANGO_SETTINGS_MODULE": "platform_.settings.production",
    "DJANGO_SECRET_KEY": "benchmark-only-secret-key-not-for-production",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_DEBUG": "false",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": RESULTS_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    "CELERY_RESULT_BACKEND": RESULTS_URL,
    "API_THROTTLE_USER": THROTTLE,
    "DOWNSTREAM_VAR_DIR": str(VAR),
    "ML_DEVICE": "cpu",
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --- setup ----------------------------------------------------------------------------------------------


def ensure_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
            log(f"created database {DB_NAME}")


def flush_redis() -> None:
    import redis

    for url in (BROKER_URL, RESULTS_URL):
        client = redis.Redis.from_url(url, socket_timeout=5)
        client.flushdb()
        client.close()


def migrate() -> None:
    cmd = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **ENV}, check=True, timeout=300)


def prepare_data() -> tuple[str, int]:
    """An operator with a models:read token, and at least MODEL_VERSIONS demo versions. Returns (secret, count)."""
    from apps.accounts.models import Role, User
    from apps.accounts.services import api_token_create, user_create
    from apps.mlops import services
    from apps.mlops.demo_family import DEMO_FAMILY
    from apps.mlops.models import ModelVersion, RunStatus, Trigger

    user = User.objects.filter(username="bench-operator").first()
    user = user or user_create(username="bench-operator", password=None, role=Role.OPERATOR)
    _, secret = api_token_create(user=user, name=f"bench {_report.utc_now()}", scopes=["models:read"])
    for _ in range(max(0, MODEL_VERSIONS - ModelVersion.objects.count())):
        run = services.training_run_start(family=DEMO_FAMILY, trigger=Trigger.CLI, dispatch=False, config={"epochs": 3})
        run = services.training_run_execute(run_id=run.pk, worker="bench-setup")
        if run.status != RunStatus.SUCCEEDED:
            raise RuntimeError(f"training the demo family failed: {run.error}")
    return secret, ModelVersion.objects.count()


# --- subprocesses ---------------------------------------------------------------------------------------


@contextmanager
def process(name: str, cmd: list[str]):  # noqa: ANN201
    """Run ``cmd`` in its own process group; SIGTERM (then SIGKILL) the whole group when the block ends."""
    log_path = VAR / f"{name}.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **ENV}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, log_path
    finally:
        stop_process_group(proc, timeout=30)


def _fail_if_exited(proc: subprocess.Popen, name: str, log_path: Path) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leftovers(patterns: list[str]) -> list[str]:
    found = []
    for pattern in patterns:
        out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True, timeout=10).stdout
        found += [line for line in out.splitlines() if line.strip()]
    return found


# --- part A: Celery round trip --------------------------------------------------------------------------


def bench_noop() -> dict:
    from celery.exceptions import TimeoutError as CeleryTimeout

    from apps.core.tasks import noop

    cmd = [str(VENV_BIN / "celery"), "-A", "platform_", "worker", "-Q", "default", "--pool=solo", "-n", WORKER_NAME,
           "--without-gossip", "--without-mingle", "--loglevel=WARNING"]
    with process("worker", cmd) as (proc, log_path):
        # Ready when the first no-op comes back: the message waits in the queue until the worker consumes.
        first = noop.apply_async(args=[-1], queue="default")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            _fail_if_exited(proc, "celery worker", log_path)
            try:
                first.get(timeout=1)
                break
            except CeleryTimeout:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"celery worker did not answer in {START_TIMEOUT} s") from None
        log("worker ready")
        for i in range(NOOP_WARMUP):
            noop.apply_async(args=[i], queue="default").get(timeout=NOOP_TIMEOUT)
        samples = []
        for i in range(NOOP_N):
            started = time.perf_counter_ns()
            value = noop.apply_async(args=[i], queue="default").get(timeout=NOOP_TIMEOUT)
            samples.append(time.perf_counter_ns() - started)
            if value != i:
                raise RuntimeError(f"core.noop returned {value!r} for {i}")
    return _report.summarise_ms(samples)


# --- part B: API under concurrent clients ---------------------------------------------------------------


def bench_api(secret: str, expected_count: int) -> tuple[dict, int]:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(VENV_BIN / "gunicorn"), "platform_.wsgi:application", *SERVER_ARGS, "-b", f"127.0.0.1:{port}", "--timeout", "30"]
    with process("gunicorn", cmd) as (proc, log_path):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            _fail_if_exited(proc, "gunicorn", log_path)
            try:
                # Any answer will do: /healthz says 503 here because no worker runs during this part.
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer /healthz in {START_TIMEOUT} s") from None
                time.sleep(0.2)
        log(f"server ready on {base} (/healthz {health.status_code})")

        url = f"{base}/api/v1/models/"
        headers = {"Authorization": f"Bearer {secret}"}
        latencies: list[list[int]] = [[] for _ in range(CLIENTS)]
        errors: list[str] = []
        lock = threading.Lock()
        ready = threading.Barrier(CLIENTS + 1, timeout=120)
        go = threading.Barrier(CLIENTS + 1, timeout=120)

        def client(index: int) -> None:
            with httpx.Client(headers=headers, timeout=HTTP_TIMEOUT) as http:
                for _ in range(WARMUP_PER_CLIENT):
                    http.get(url)
                ready.wait()
                go.wait()
                for _ in range(REQUESTS_PER_CLIENT):
                    started = time.perf_counter_ns()
                    try:
                        response = http.get(url)
                        ok = response.status_code == 200 and response.json().get("count") == expected_count
                        problem = "" if ok else f"{response.status_code}: {response.text[:200]}"
                    except httpx.HTTPError as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                    latencies[index].append(time.perf_counter_ns() - started)
                    if problem:
                        with lock:
                            errors.append(problem)

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        ready.wait()  # every client warmed up and holds an open keep-alive connection
        go.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join(timeout=REQUESTS_PER_CLIENT * HTTP_TIMEOUT + 30)
        wall = time.perf_counter() - started
        if any(thread.is_alive() for thread in threads):
            raise RuntimeError("an API client thread did not finish")
    samples = [s for per_client in latencies for s in per_client]
    stats = _report.summarise_ms(samples)
    if errors:
        log(f"{len(errors)} errors, first: {errors[0]}")
    result = {"p50": stats["p50"], "p95": stats["p95"], "mean": stats["mean"], "rps": round(len(samples) / wall, 1),
              "clients": CLIENTS, "requests": len(samples), "errors": len(errors)}
    return result, port


# --- report ---------------------------------------------------------------------------------------------


def write_docs(result: dict) -> None:
    noop, api = result["noop_roundtrip_ms"], result["api_models_list_ms"]
    per_client = api["requests"] // api["clients"]
    body = f"""Measured {result["date"]} on {result["machine"]}.
Command: `make bench` (`tests/benchmarks/platform_overhead.py`, {result["runtime_s"]} s).

Production settings (DEBUG off), PostgreSQL, Redis broker and result backend; `{result["server"]}`;
`API_THROTTLE_USER={THROTTLE}` so the throttle does not cap the run. The clients run on the same machine as the
server and compete with it for the CPUs.

{_report.table(
    ["measurement", "p50 ms", "p95 ms", "mean ms", "throughput", "errors"],
    [
        [f"Celery `core.noop` round trip (1 worker, `--pool=solo`, {noop['n']} sequential)",
         f"{noop['p50']:.2f}", f"{noop['p95']:.2f}", f"{noop['mean']:.2f}", f"{1000 / noop['mean']:.0f} tasks/s", 0],
        [f"`GET /api/v1/models/` ({api['clients']} clients × {per_client}, {result['model_versions']} versions listed)",
         f"{api['p50']:.1f}", f"{api['p95']:.1f}", f"{api['mean']:.1f}", f"{api['rps']:.0f} req/s", api["errors"]],
    ],
)}
"""
    _report.write_section("platform_overhead", body)


def main() -> int:
    started = time.perf_counter()
    os.environ.update(ENV)
    # staticfiles/ only so whitenoise does not warn about a missing STATIC_ROOT; the API serves no static files.
    (VAR / "staticfiles").mkdir(parents=True, exist_ok=True)
    log(f"settings {ENV['DJANGO_SETTINGS_MODULE']} (DEBUG off), API_THROTTLE_USER={THROTTLE}, database {DB_NAME}, redis dbs 13/12")
    ensure_database()
    flush_redis()
    migrate()

    import django

    django.setup()
    from django.db import connections

    secret, versions = prepare_data()
    connections.close_all()
    log(f"{versions} model versions registered")

    patterns = ["bench@", "gunicorn platform_.wsgi"]
    try:
        noop = bench_noop()
        log(f"noop round trip: {noop}")
        api, port = bench_api(secret, versions)
        log(f"GET /api/v1/models/: {api}")
        patterns.append(f"127.0.0.1:{port}")
    finally:
        left = leftovers(patterns)
    if left:
        log(f"processes left running: {left}")
        return 1
    result = {
        "benchmark": "platform_overhead",
        "noop_roundtrip_ms": noop,
        "api_models_list_ms": api,
        "model_versions": versions,
        "server": SERVER,
        "broker": "redis",
        "database": "postgresql",
        "settings": {"module": ENV["DJANGO_SETTINGS_MODULE"], "debug": False, "API_THROTTLE_USER": THROTTLE},
        "date": _report.utc_now(),
        "machine": _report.machine(),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    if api["errors"] == 0:
        write_docs(result)  # a run with failed requests measured something else: keep the last good numbers
    print(json.dumps(result), flush=True)
    return 0 if api["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
