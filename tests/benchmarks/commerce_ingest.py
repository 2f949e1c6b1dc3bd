"""Shop-data ingestion throughput: 10,000-event batches through the real API on a real server, MovieLens 100k
through the import (the same services), and reading the interaction log that recommendation training uses.

Run from the repository root (``make bench``)::

    .venv/bin/python tests/benchmarks/commerce_ingest.py [--data ../shared/data/movielens-100k] [--batches 10]

Needs PostgreSQL on 127.0.0.1:5432 (user ``postgres``) and Redis on 127.0.0.1:6379. It drops and recreates its own
database ``downstream_bench_commerce`` (a throwaway: every run starts empty), uses Redis db 11 (nothing is flushed),
starts gunicorn with production settings (DEBUG off) and stops it before it exits. The last line of stdout is one
JSON object; docs/benchmarks.md gets a ``## commerce_ingest`` section. Target: at least 5,000 events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _report

ROOT = _report.ROOT
sys.path.insert(0, str(ROOT))
from tests.processes import stop_process_group  # noqa: E402

VENV_BIN = Path(sys.executable).parent
VAR = ROOT / "var" / "bench-commerce"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "downstream_bench_commerce"
REDIS = "redis://127.0.0.1:6379/11"
SERVER_ARGS = ["-w", "2", "--threads", "2", "-k", "gthread", "--no-control-socket"]
SERVER = "gunicorn -w 2 --threads 2 (gthread)"
BATCH, PRODUCTS, CUSTOMERS = 10_000, 500, 5_000
TARGET_EVENTS_PER_S = 5_000
START_TIMEOUT, HTTP_TIMEOUT = 90.0, 120.0
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "movielens-100k"

ENV = {
    "DJANGO_SETTINGS_MODULE": "platform_.settings.production",
    "DJANGO_SECRET_KEY": "benchmark-only-secret-key-not-for-production",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_DEBUG": "false",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": REDIS,
    "CELERY_BROKER_URL": REDIS,
    "CELERY_RESULT_BACKEND": REDIS,
    "API_THROTTLE_USER": "1000000/min",
    "DOWNSTREAM_VAR_DIR": str(VAR),
    "ML_DEVICE": "cpu",
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env={**os.environ, **ENV}, check=True, timeout=300)


def prepare() -> str:
    """A catalog to send events about, and an integrator with a commerce:write token. Returns the token's secret."""
    from apps.accounts.models import Role
    from apps.accounts.services import api_token_create, user_create
    from apps.commerce import services

    services.product_upsert_many(rows=[{"sku": f"B-{i:04d}", "title": f"Bench product {i}", "category": f"c{i % 8}"} for i in range(PRODUCTS)])
    user = user_create(username="bench-integrator", password=None, role=Role.INTEGRATOR)
    return api_token_create(user=user, name="bench", scopes=["commerce:write"])[1]


def event_batches(n: int) -> list[bytes]:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    kinds = ["view"] * 70 + ["add_to_cart"] * 15 + ["purchase"] * 8 + ["rating"] * 7
    bodies = []
    for b in range(n):
        rows = []
        for i in range(BATCH):
            kind = rng.choice(kinds)
            rows.append(
                {
                    "event_id": f"bench-{b}-{i}",
                    "type": kind,
                    "sku": f"B-{rng.randrange(PRODUCTS):04d}",
                    "customer_external_id": f"bench-cust-{rng.randrange(CUSTOMERS)}",
                    "value": float(rng.randint(1, 5)) if kind == "rating" else None,
                    "occurred_at": (start + timedelta(seconds=b * BATCH + i)).isoformat(),
                }
            )
        bodies.append(json.dumps({"rows": rows}).encode())
    return bodies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server():  # noqa: ANN201
    import httpx

    port = free_port()
    log_path = VAR / "gunicorn.log"
    cmd = [str(VENV_BIN / "gunicorn"), "platform_.wsgi:application", *SERVER_ARGS, "-b", f"127.0.0.1:{port}", "--timeout", "120"]
    with open(log_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **ENV}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer in {START_TIMEOUT} s") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(proc, timeout=30)


def bench_api(secret: str, batches: int) -> dict:
    import httpx

    bodies = event_batches(batches)
    log(f"{batches} batches of {BATCH} events prepared ({sum(map(len, bodies)) / batches / 1e6:.1f} MB each)")
    seconds, results = [], []
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    with server() as base, httpx.Client(base_url=base, headers=headers, timeout=HTTP_TIMEOUT) as http:
        http.post("/api/v1/commerce/events/bulk/", content=json.dumps({"rows": []}).encode()).raise_for_status()  # warm-up
        for body in bodies:
            started = time.perf_counter()
            response = http.post("/api/v1/commerce/events/bulk/", content=body)
            seconds.append(time.perf_counter() - started)
            response.raise_for_status()
            results.append(response.json())
        started = time.perf_counter()
        resend = http.post("/api/v1/commerce/events/bulk/", content=bodies[0])
        resend_s = time.perf_counter() - started
        resend.raise_for_status()
    created = sum(r["created"] for r in results)
    errors = sum(len(r["errors"]) for r in results)
    rates = [BATCH / s for s in seconds]
    return {
        "batches": batches,
        "batch_size": BATCH,
        "created": created,
        "row_errors": errors,
        "events_per_s_overall": round(created / sum(seconds)),
        "events_per_s_p50": round(statistics.median(rates)),
        "events_per_s_min": round(min(rates)),
        "batch_s_p50": round(statistics.median(seconds), 3),
        "batch_s_max": round(max(seconds), 3),
        "resend_duplicates": resend.json()["duplicates"],
        "resend_s": round(resend_s, 3),
    }


def bench_movielens(data: Path) -> dict:
    from apps.commerce import selectors
    from apps.commerce.imports import import_movielens

    started = time.perf_counter()
    first = import_movielens(data)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    second = import_movielens(data)
    second_s = time.perf_counter() - started
    started = time.perf_counter()
    log_rows = len(selectors.interaction_log())
    log_s = time.perf_counter() - started
    events = first.counts["events"]
    return {
        "ratings_created": events.created,
        "products_created": first.counts["products"].created,
        "customers_created": first.counts["customers"].created,
        "row_errors": len(first.errors),
        "import_s": round(first_s, 2),
        "import_events_per_s": round(events.created / first_s),
        "reimport_s": round(second_s, 2),
        "reimport_duplicates": second.counts["events"].duplicates,
        "interaction_log_rows": log_rows,
        "interaction_log_s": round(log_s, 3),
    }


def write_docs(result: dict) -> None:
    api, ml = result["api"], result["movielens"]
    body = f"""Measured {result["date"]} on {result["machine"]}.
Command: `make bench` (`tests/benchmarks/commerce_ingest.py`, {result["runtime_s"]} s). Target: ≥ {TARGET_EVENTS_PER_S} events/s.

`POST /api/v1/commerce/events/bulk/` with {api["batch_size"]}-event batches (new event ids, {PRODUCTS} products,
{CUSTOMERS} customers created as stubs on first sight), sequentially through `{result["server"]}` with production
settings on PostgreSQL; the client runs on the same machine. MovieLens 100k is imported in-process with
`import_movielens` (the same services as the API); a second import must find only duplicates. Load average
(1 min) when the run started: {result["load_average_at_start"]} — other processes on the machine share the CPUs.

{
        _report.table(
            ["measurement", "result"],
            [
                [
                    f"API, {api['batches']} × {api['batch_size']} new events",
                    f"{api['events_per_s_overall']} events/s overall "
                    f"(per batch p50 {api['events_per_s_p50']}, min {api['events_per_s_min']}; p50 {api['batch_s_p50']} s per batch)",
                ],
                ["API, resend of one batch", f"{api['resend_duplicates']} duplicates reported, nothing stored, {api['resend_s']} s"],
                [
                    "`import_movielens` (first run)",
                    f"{ml['ratings_created']} ratings + {ml['products_created']} products + "
                    f"{ml['customers_created']} customers in {ml['import_s']} s ({ml['import_events_per_s']} events/s)",
                ],
                ["`import_movielens` (again)", f"{ml['reimport_duplicates']} duplicates, {ml['reimport_s']} s"],
                ["`selectors.interaction_log()`", f"{ml['interaction_log_rows']} rows in {ml['interaction_log_s']} s"],
            ],
        )
    }
"""
    _report.write_section("commerce_ingest", body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MOVIELENS_DIR", DEFAULT_DATA)), help="MovieLens 100k directory.")
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    if not (args.data / "u.data").is_file():
        parser.error(f"{args.data} has no u.data (pass --data DIR with MovieLens 100k)")

    started = time.perf_counter()
    load_at_start = round(os.getloadavg()[0], 2)
    os.environ.update(ENV)
    (VAR / "staticfiles").mkdir(parents=True, exist_ok=True)
    log(f"database {DB_NAME} (recreated), settings {ENV['DJANGO_SETTINGS_MODULE']}")
    fresh_database()

    import django

    django.setup()
    from django.db import connections

    secret = prepare()
    connections.close_all()
    api = bench_api(secret, args.batches)
    log(f"API: {api}")
    movielens = bench_movielens(args.data)
    log(f"MovieLens: {movielens}")
    ok = (
        api["row_errors"] == 0
        and api["created"] == args.batches * BATCH
        and api["resend_duplicates"] == BATCH
        and movielens["reimport_duplicates"] == movielens["ratings_created"]
    )
    result = {
        "benchmark": "commerce_ingest",
        "api": api,
        "movielens": movielens,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "meets_target": api["events_per_s_overall"] >= TARGET_EVENTS_PER_S,
        "server": SERVER,
        "load_average_at_start": load_at_start,
        "database": "postgresql",
        "date": _report.utc_now(),
        "machine": _report.machine(),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    if ok:
        write_docs(result)  # a run with failures measured something else: keep the last good numbers
    print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
