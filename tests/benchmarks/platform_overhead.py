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
import subprocess
import sys
import time

import _report
import _server

ROOT = _report.ROOT
VAR = ROOT / "var" / "bench"

DB_NAME = "downstream_bench"
BROKER_URL = "redis://127.0.0.1:6379/13"
RESULTS_URL = "redis://127.0.0.1:6379/12"
THROTTLE = _server.THROTTLE
WORKER_NAME = "bench@%h"
# No control socket: gunicorn would otherwise create ~/.gunicorn/gunicorn.ctl.
SERVER_ARGS = ["-w", "2", "--threads", "4", "-k", "gthread", "--no-control-socket"]
SERVER = _server.server_description(SERVER_ARGS)

NOOP_WARMUP, NOOP_N, NOOP_TIMEOUT = 20, 300, 10.0
CLIENTS, WARMUP_PER_CLIENT, REQUESTS_PER_CLIENT, HTTP_TIMEOUT = 20, 5, 50, 10.0
MODEL_VERSIONS = 5  # registered before the API run so the list is not empty
START_TIMEOUT = 90.0  # a worker or server that is not answering after this long fails the run

ENV = _server.production_env(DB_NAME, RESULTS_URL, VAR, broker_url=BROKER_URL)
log = _report.log


# --- setup ----------------------------------------------------------------------------------------------


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

    cmd = [
        str(_server.VENV_BIN / "celery"),
        "-A",
        "platform_",
        "worker",
        "-Q",
        "default",
        "--pool=solo",
        "-n",
        WORKER_NAME,
        "--without-gossip",
        "--without-mingle",
        "--loglevel=WARNING",
    ]
    with _server.process("worker", cmd, ENV) as (proc, log_path):
        # Ready when the first no-op comes back: the message waits in the queue until the worker consumes.
        first = noop.apply_async(args=[-1], queue="default")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            _server.fail_if_exited(proc, "celery worker", log_path)
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
    with _server.start_gunicorn(ENV, SERVER_ARGS, request_timeout=30, start_timeout=START_TIMEOUT) as (base, health):
        # Any /healthz answer will do: it says 503 here because no worker runs during this part.
        log(f"server ready on {base} (/healthz {health})")
        url = f"{base}/api/v1/models/"
        stats = _server.measure_concurrent(
            lambda _rng: url,
            lambda response: response.status_code == 200 and response.json().get("count") == expected_count,
            headers={"Authorization": f"Bearer {secret}"},
            clients=CLIENTS,
            warmup=WARMUP_PER_CLIENT,
            requests=REQUESTS_PER_CLIENT,
            http_timeout=HTTP_TIMEOUT,
        )
    result = {
        "p50": stats["p50"],
        "p95": stats["p95"],
        "mean": stats["mean"],
        "rps": stats["rps"],
        "clients": CLIENTS,
        "requests": stats["n"],
        "errors": stats["errors"],
    }
    return result, int(base.rsplit(":", 1)[1])


# --- report ---------------------------------------------------------------------------------------------


def write_docs(result: dict) -> None:
    noop, api = result["noop_roundtrip_ms"], result["api_models_list_ms"]
    per_client = api["requests"] // api["clients"]
    body = f"""Measured {result["date"]} on {result["machine"]}.
Command: `make bench` (`tests/benchmarks/platform_overhead.py`, {result["runtime_s"]} s).

Production settings (DEBUG off), PostgreSQL, Redis broker and result backend; `{result["server"]}`;
`API_THROTTLE_USER={THROTTLE}` so the throttle does not cap the run. The clients run on the same machine as the
server and compete with it for the CPUs.

{
        _report.table(
            ["measurement", "p50 ms", "p95 ms", "mean ms", "throughput", "errors"],
            [
                [
                    f"Celery `core.noop` round trip (1 worker, `--pool=solo`, {noop['n']} sequential)",
                    f"{noop['p50']:.2f}",
                    f"{noop['p95']:.2f}",
                    f"{noop['mean']:.2f}",
                    f"{1000 / noop['mean']:.0f} tasks/s",
                    0,
                ],
                [
                    f"`GET /api/v1/models/` ({api['clients']} clients × {per_client}, {result['model_versions']} versions listed)",
                    f"{api['p50']:.1f}",
                    f"{api['p95']:.1f}",
                    f"{api['mean']:.1f}",
                    f"{api['rps']:.0f} req/s",
                    api["errors"],
                ],
            ],
        )
    }
"""
    _report.write_section("platform_overhead", body)


def main() -> int:
    started = time.perf_counter()
    _server.activate(ENV)
    log(f"settings {ENV['DJANGO_SETTINGS_MODULE']} (DEBUG off), API_THROTTLE_USER={THROTTLE}, database {DB_NAME}, redis dbs 13/12")
    if _server.ensure_database(DB_NAME):
        log(f"created database {DB_NAME}")
    _server.flush_redis([BROKER_URL, RESULTS_URL])
    _server.migrate(ENV)

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
