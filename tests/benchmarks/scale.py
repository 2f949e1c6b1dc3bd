"""Scale: how training, serving and memory grow from a small shop to a large one (issue 18).

Run from the repository root (``make bench``)::

    .venv/bin/python tests/benchmarks/scale.py [--sizes S,M,L] [--data var/bench-scale] [--products]

For each size — S = 10k customers × 5k products × 500k events, M = 100k × 50k × 5 M, L = 1 M × 200k × 20 M — a
seeded synthetic shop (``_synthetic_shop.py``: power-law popularity and activity, shoppers with favourite
categories) is generated (cached under ``--data``), loaded into PostgreSQL with COPY (the load is set-up, not
the thing measured), and then, each through the product code:

- the interaction log that training reads (``apps.commerce.selectors.interaction_log``) is read in a fresh
  process: seconds and peak RSS;
- the main family ``recommendations.blend`` trains through the real task code (``training_run_execute``) in a
  fresh process with the default config (text embeddings off: synthetic titles carry no meaning): seconds, peak
  RSS, the scale strategy it chose, artifact size, and nDCG@10 on its seeded per-user hold-out;
- a real gunicorn server (production settings, 2 worker processes) serves it: the memory each worker process
  gains when it loads the model (RSS, and USS = private memory), then one client's p50/p95 for
  ``GET /api/v1/recommendations/users/{id}/`` on random known customers and for similar items;
- at M only, ingestion through the bulk events API (10,000-event batches) into that database.

``--products`` also measures the chatbot (10,000 FAQ articles, 500 intents) and inspection (5,000 good images)
at two sizes each (``_scale_products.py``). Log–log slopes say how each cost grows with the data. Uses database
``downstream_bench_scale`` (recreated per size) and Redis db 8 (flushed). The last stdout line is one JSON object;
docs/benchmarks.md gets a ``## scale`` section. Targets (2 cores, 24 GB): L trains in ≤ 30 min with peak RSS ≤ 8 GB,
serving p95 at L ≤ 2 × S, a serving process's model memory at L ≤ 1 GB, nothing OOM-killed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import _report
import _scale_products
import _server
import _synthetic_shop
import numpy as np

ROOT = _report.ROOT
DB_NAME = "downstream_bench_scale"
REDIS = "redis://127.0.0.1:6379/8"
SERVER_ARGS = ["-w", "2", "--threads", "2", "-k", "gthread", "--no-control-socket"]
SERVER = _server.server_description(SERVER_ARGS)
REQUESTS, WARMUP, HTTP_TIMEOUT, START_TIMEOUT = 300, 20, 60.0, 180.0
INGEST_BATCH, INGEST_BATCHES = 10_000, 10
TARGETS = {"train_seconds": 1800, "peak_rss_gb": 8.0, "serving_p95_ratio": 2.0, "model_memory_gb": 1.0}
log = _report.log

_CHILD_PRELUDE = """
import json, os, resource, sys, time
import django
django.setup()
"""
# Reads the log as training does: seconds, events, peak RSS of this process.
_READ_LOG = (
    _CHILD_PRELUDE
    + """
from apps.commerce import selectors
started = time.perf_counter()
n = len(selectors.interaction_log())
print(json.dumps({"seconds": time.perf_counter() - started, "events": n, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))
"""
)
# Trains the main family through the task's own code path.
_TRAIN = (
    _CHILD_PRELUDE
    + """
from apps.mlops import services as mlops
from apps.recommendations.families import MAIN_FAMILY
started = time.perf_counter()
run = mlops.training_run_start(family=MAIN_FAMILY, trigger="cli", dispatch=False, config={"content": False})
run = mlops.training_run_execute(run_id=run.pk, worker="bench-scale")
version = run.model_version
print(json.dumps({
    "status": run.status, "error": run.error[:2000], "seconds": time.perf_counter() - started,
    "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    "metrics": version.metrics if version else {}, "details": run.details, "version_id": version.pk if version else None,
    "artifact_mb": version.artifact_size / 1e6 if version else None, "snapshot": run.data_snapshot,
}))
"""
)


# What one serving process adds by loading the model and answering requests, apart from the code and the catalog
# it imports and caches anyway: the product's own serving code (the per-process model cache, the services).
_MODEL_MEMORY = (
    _CHILD_PRELUDE
    + """
from apps.mlops.serving import model_cache
from apps.recommendations import services
from apps.recommendations.catalog import catalog_cache
from apps.recommendations.families import MAIN_FAMILY
import ml.recommenders, ml.recommenders.content  # noqa: F401  everything a request imports
customers, skus = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "RssAnon", "RssFile")}
try:
    services.similar_items(sku="no-such-sku", n=10)
except services.UnknownProduct:
    pass
catalog_cache.get()
from ml.device import select_device
select_device()  # imports torch, as loading any model does: code every serving process holds anyway (the chatbot needs it)
base = status()
started = time.perf_counter()
model_cache.predictor(model_cache.production(MAIN_FAMILY))
load_ms = (time.perf_counter() - started) * 1000
loaded = status()
for customer, sku in zip(customers, skus):
    services.recommendations_for(customer_external_id=customer, n=10)
    services.similar_items(sku=sku, n=10, record=False)
after = status()
print(json.dumps({
    "load_ms": load_ms,
    "private_mb_after_load": loaded["RssAnon"] - base["RssAnon"], "mapped_mb_after_load": loaded["RssFile"] - base["RssFile"],
    "private_mb": after["RssAnon"] - base["RssAnon"], "mapped_mb": after["RssFile"] - base["RssFile"], "requests": len(customers),
}))
"""
)


# --- loading a shop into PostgreSQL -------------------------------------------------------------------------


_COPY_HEADER, _COPY_TRAILER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8, b"\xff\xff"


def _binary_copy(columns: list[tuple[str, np.ndarray, str]], *, first: bool = True, last: bool = True) -> bytes:
    """Rows of a PostgreSQL binary COPY of fixed-width non-null columns (name, values, big-endian dtype); the
    stream's header goes before the ``first`` chunk and its trailer after the ``last``."""
    n = len(columns[0][1])
    fields = [("count", ">i2")]
    for name, _, dtype in columns:
        fields += [(f"{name}_len", ">i4"), (name, dtype)]
    rows = np.empty(n, dtype=fields)
    rows["count"] = len(columns)
    for name, values, dtype in columns:
        rows[f"{name}_len"] = np.dtype(dtype).itemsize
        rows[name] = values
    return (_COPY_HEADER if first else b"") + rows.tobytes() + (_COPY_TRAILER if last else b"")


def load_shop(shop: _synthetic_shop.Shop) -> float:
    """Customers 1..users, products 1..items (sku P<id>), and every event, with COPY; indexes rebuilt after."""
    from django.db import connection

    from apps.commerce.models import Customer, Event, Product

    started = time.perf_counter()
    c, p, e = Customer._meta.db_table, Product._meta.db_table, Event._meta.db_table
    with connection.cursor() as cur:
        raw = cur.connection
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute(
            f"INSERT INTO {c} (id, external_id, email, name, attributes, is_stub, created_at, updated_at) "
            "SELECT g, 'c' || g, '', '', '{}'::jsonb, false, now(), now() FROM generate_series(1, %s) g",
            [shop.users],
        )
        cur.execute("CREATE TEMP TABLE shop_category (item int8, category int8)")
        with raw.cursor().copy("COPY shop_category FROM STDIN (FORMAT binary)") as copy:
            copy.write(_binary_copy([("item", np.arange(1, shop.items + 1), ">i8"), ("category", shop.category, ">i8")]))
        cur.execute(
            f"INSERT INTO {p} (id, sku, title, description, category, price, currency, in_stock, attributes, image_url, created_at, updated_at) "
            "SELECT item, 'P' || item, 'Product ' || item, '', 'category-' || category, 9.99, 'EUR', true, '{}'::jsonb, '', now(), now() FROM shop_category"
        )
        for table, count in ((c, shop.users), (p, shop.items)):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [count])
        # Constraints and indexes off while 20 M rows go in, rebuilt after (each a single sort).
        cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('u', 'f')", [e])
        constraints = cur.fetchall()
        for name, _ in constraints:
            cur.execute(f'ALTER TABLE {e} DROP CONSTRAINT "{name}"')
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s", [e, "%_pkey"])
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("CREATE TEMP TABLE shop_event (n int8, customer int8, product int8, kind int2, at float8)")
        step = 2_000_000
        with raw.cursor().copy("COPY shop_event FROM STDIN (FORMAT binary)") as copy:
            for s in range(0, len(shop), step):
                sl = slice(s, s + step)
                copy.write(
                    _binary_copy(
                        [
                            ("n", np.arange(s, s + len(shop.user_index[sl])), ">i8"),
                            ("customer", shop.user_index[sl] + 1, ">i8"),
                            ("product", shop.item_index[sl] + 1, ">i8"),
                            ("kind", shop.type_code[sl], ">i2"),
                            ("at", shop.timestamp[sl], ">f8"),
                        ],
                        first=s == 0,
                        last=s + step >= len(shop),
                    )
                )
        kinds = " ".join(f"WHEN {code} THEN '{name}'" for code, name in enumerate(_synthetic_shop.TYPE_CODES))
        cur.execute(
            f"INSERT INTO {e} (event_id, type, customer_id, session_id, product_id, value, occurred_at, recommendation_id, received_at) "
            f"SELECT 's' || n, CASE kind {kinds} END, customer, '', product, NULL, to_timestamp(at), '', now() FROM shop_event ORDER BY n"
        )
        cur.execute("DROP TABLE shop_event")
        for name, definition in constraints:
            cur.execute(f'ALTER TABLE {e} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute(f"ANALYZE {c}, {p}, {e}")
    return time.perf_counter() - started


# --- measured in child processes ----------------------------------------------------------------------------


def serve(env: dict[str, str], secret: str, shop: _synthetic_shop.Shop, seed: int) -> dict:
    """One client's latency for recommendations and similar items against gunicorn, then the memory one serving
    process adds for the model (in a fresh process running the same serving code)."""
    import httpx

    rng = random.Random(seed)
    active = np.unique(shop.user_index)
    warm_items = np.unique(shop.item_index)
    customers = [f"c{int(u) + 1}" for u in rng.sample(list(active), min(2000, len(active)))]
    skus = [f"P{int(i) + 1}" for i in rng.sample(list(warm_items), min(2000, len(warm_items)))]
    headers = {"Authorization": f"Bearer {secret}"}
    with (
        _server.start_gunicorn(env, SERVER_ARGS, request_timeout=120, start_timeout=START_TIMEOUT) as (base, _),
        httpx.Client(base_url=base, headers=headers, timeout=HTTP_TIMEOUT) as http,
    ):

        def timed(path_of, n: int) -> dict:
            samples, errors = [], 0
            for k in range(WARMUP + n):
                started = time.perf_counter_ns()
                response = http.get(path_of(k))
                elapsed = time.perf_counter_ns() - started
                if response.status_code != 200:
                    errors += 1
                if k >= WARMUP:
                    samples.append(elapsed)
            return {**_report.summarise_ms(samples), "errors": errors}

        recs = timed(lambda k: f"/api/v1/recommendations/users/{customers[k % len(customers)]}/?n=10", REQUESTS)
        similar = timed(lambda k: f"/api/v1/recommendations/items/{skus[k % len(skus)]}/similar/?n=10", REQUESTS)
    memory = _server.json_child(_MODEL_MEMORY, env, timeout=1800, args=(json.dumps(customers[:REQUESTS]), json.dumps(skus[:REQUESTS])))
    return {"recommend_ms": recs, "similar_ms": similar, "model_memory_per_process": {k: round(v, 1) for k, v in memory.items()}}


def ingest(env: dict[str, str], secret: str, shop: _synthetic_shop.Shop, seed: int) -> dict:
    """``INGEST_BATCHES`` × ``INGEST_BATCH`` new events through ``POST /api/v1/commerce/events/bulk/`` on the loaded shop."""
    import httpx

    rng = np.random.default_rng(seed)
    bodies = []
    for b in range(INGEST_BATCHES):
        users = rng.integers(1, shop.users + 1, INGEST_BATCH)
        items = rng.integers(1, shop.items + 1, INGEST_BATCH)
        rows = [
            {"event_id": f"ingest-{b}-{k}", "type": "view", "sku": f"P{int(i)}", "customer_external_id": f"c{int(u)}", "occurred_at": "2026-12-01T12:00:00Z"}
            for k, (u, i) in enumerate(zip(users, items, strict=True))
        ]
        bodies.append(json.dumps({"rows": rows}).encode())
    seconds, created = [], 0
    with (
        _server.start_gunicorn(env, SERVER_ARGS, request_timeout=120, start_timeout=START_TIMEOUT) as (base, _),
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}, timeout=120) as http,
    ):
        http.post("/api/v1/commerce/events/bulk/", content=b'{"rows": []}').raise_for_status()
        for body in bodies:
            started = time.perf_counter()
            response = http.post("/api/v1/commerce/events/bulk/", content=body)
            seconds.append(time.perf_counter() - started)
            response.raise_for_status()
            created += response.json()["created"]
    return {"events": created, "events_per_s": round(created / sum(seconds)), "batch_s_p50": round(statistics.median(seconds), 3)}


def tokens() -> dict[str, str]:
    from apps.accounts.models import Role
    from apps.accounts.services import api_token_create, user_create

    user = user_create(username="bench-scale", password=None, role=Role.INTEGRATOR)
    return {
        "read": api_token_create(user=user, name="read", scopes=["recommendations:read"])[1],
        "write": api_token_create(user=user, name="write", scopes=["commerce:write"])[1],
    }


def run_size(size: str, data: Path, seed: int) -> dict:
    from django.db import connections

    result: dict = {"size": size}
    users, items, events = _synthetic_shop.SIZES[size]
    started = time.perf_counter()
    shop = _synthetic_shop.load_or_generate(size, data, seed)
    result["generate_seconds"] = round(time.perf_counter() - started, 1)
    result.update(users=users, items=items, events=len(shop), active_users=int(np.unique(shop.user_index).size))
    log(f"{size}: shop of {users} × {items} × {len(shop)} ready in {result['generate_seconds']} s")
    connections.close_all()
    _server.fresh_database(DB_NAME)
    _server.flush_redis([REDIS])
    _server.migrate(ENV, timeout=600)
    result["db_load_seconds"] = round(load_shop(shop), 1)
    log(f"{size}: loaded into PostgreSQL in {result['db_load_seconds']} s")
    secrets = tokens()
    connections.close_all()

    read = _server.json_child(_READ_LOG, ENV, timeout=3600)
    result["read_log_seconds"] = round(read["seconds"], 2)
    result["read_log_peak_rss_gb"] = round(read["peak_rss_gb"], 2)
    log(f"{size}: read {read['events']} events in {read['seconds']:.1f} s, peak RSS {read['peak_rss_gb']:.2f} GB")

    trained = _server.json_child(_TRAIN, ENV, timeout=7200)
    if trained["status"] != "succeeded":
        raise RuntimeError(f"{size}: training {trained['status']}: {trained['error']}")
    metrics = trained["metrics"]
    result.update(
        train_seconds=round(trained["seconds"], 1),
        peak_rss_gb=round(trained["peak_rss_gb"], 2),
        artifact_mb=round(trained["artifact_mb"], 1),
        **{"ndcg@10": round(metrics["ndcg@10"], 4), "precision@10": round(metrics["precision@10"], 4), "coverage@10": round(metrics["coverage@10"], 4)},
        strategy=trained["details"].get("scale", {}),
        timings=trained["details"].get("timings", {}),
    )
    log(
        f"{size}: trained in {result['train_seconds']} s, peak RSS {result['peak_rss_gb']} GB, "
        f"{result['strategy'].get('strategy')}, nDCG@10 {result['ndcg@10']}"
    )

    served = serve(ENV, secrets["read"], shop, seed)
    result.update(
        serving_p50_ms=served["recommend_ms"]["p50"],
        serving_p95_ms=served["recommend_ms"]["p95"],
        similar_p95_ms=served["similar_ms"]["p95"],
        serving_errors=served["recommend_ms"]["errors"] + served["similar_ms"]["errors"],
        model_memory_per_process_mb=served["model_memory_per_process"],
    )
    log(f"{size}: serving {served}")
    if size == "M":
        result["ingest"] = ingest(ENV, secrets["write"], shop, seed)
        log(f"{size}: ingestion {result['ingest']}")
    return result


def slopes(by_size: dict[str, dict]) -> dict[str, float | None]:
    done = [by_size[s] for s in ("S", "M", "L") if s in by_size and "error" not in by_size[s]]
    xs = [r["events"] for r in done]
    keys = ("train_seconds", "peak_rss_gb", "artifact_mb", "read_log_seconds", "serving_p95_ms", "similar_p95_ms")
    return {key: _scale_products.loglog_slope(xs, [r[key] for r in done]) for key in keys} if len(done) >= 2 else {}


def write_docs(result: dict, args: argparse.Namespace) -> None:
    sizes = [s for s in ("S", "M", "L") if s in result]
    rows = []
    for s in sizes:
        r = result[s]
        if "error" in r:
            rows.append([s, "failed: " + r["error"][:120]] + [""] * 11)
            continue
        strategy = r["strategy"]
        rows.append(
            [
                f"{s} ({r['users']:,} × {r['items']:,} × {r['events']:,})",
                f"{r['read_log_seconds']} s / {r['read_log_peak_rss_gb']} GB",
                r["train_seconds"],
                r["peak_rss_gb"],
                f"{strategy.get('strategy')}" + (f" ({strategy.get('head_items')})" if strategy.get("strategy") == "head" else ""),
                r["artifact_mb"],
                f"{r['model_memory_per_process_mb']['private_mb']} / {r['model_memory_per_process_mb']['mapped_mb']}",
                r["serving_p50_ms"],
                r["serving_p95_ms"],
                r["similar_p95_ms"],
                r["ndcg@10"],
                r["serving_errors"],
            ]
        )
    table = _report.table(
        [
            "size (customers × products × events)",
            "read log (s / peak RSS)",
            "train s",
            "train peak RSS GB",
            "strategy",
            "artifact MB",
            "model memory per web process, private / mapped MB",
            "recommend p50 ms",
            "recommend p95 ms",
            "similar p95 ms",
            "nDCG@10 (hold-out)",
            "errors",
        ],
        rows,
    )
    slope_rows = [[k, v] for k, v in result.get("slopes", {}).items()]
    extra = ""
    if "ingest" in result.get("M", {}):
        i = result["M"]["ingest"]
        extra += (
            f"\nIngestion at M through `POST /api/v1/commerce/events/bulk/` ({INGEST_BATCHES} × {INGEST_BATCH:,} new events into the "
            f"5 M-event table): **{i['events_per_s']:,} events/s** (batch p50 {i['batch_s_p50']} s).\n"
        )
    checks = result.get("targets", {})
    products = ""
    if result.get("products"):
        products = "\n### Chatbot and inspection\n\n" + _scale_products.markdown(result["products"])
    body = f"""Measured {result["date"]} on {result["machine"]}.
Command: `{result["command"]}` ({result["runtime_s"]} s). 1-minute load average {result["load_average_1m"]["start"]} at the start,
{result["load_average_1m"]["end"]} at the end.

Seeded synthetic shops (`tests/benchmarks/_synthetic_shop.py`: power-law item popularity and shopper activity, favourite
categories), loaded into PostgreSQL; `recommendations.blend` trained through the task code in a fresh process with the
default config (text embeddings off); served by `{SERVER}` with production settings, one client, {REQUESTS} requests each.
"Model memory per web process": what a process running the serving code gains by loading the production model and
answering {REQUESTS} recommendation and {REQUESTS} similar-item requests, after importing the code and caching the
catalog: private (anonymous memory, `RssAnon`: what each added process adds) and mapped (`RssFile`: artifact pages
mapped from the file, one copy in the page cache shared by every process that serves the model).

{table}
{extra}
Targets: L trains in ≤ 30 min with peak RSS ≤ 8 GB; serving p95 at L ≤ 2 × S; model memory per web process at L ≤ 1 GB.
Checks: `{json.dumps(checks)}`

Growth (slope of log cost against log events; 1 = linear):

{_report.table(["cost", "log–log slope vs events"], slope_rows) if slope_rows else "(needs two sizes)"}
{products}"""
    _report.write_section("scale", body)


ENV = _server.production_env(DB_NAME, REDIS, ROOT / "var" / "bench-scale-run", OPENBLAS_NUM_THREADS="1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,M,L", help="comma-separated subset of S,M,L")
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "bench-scale", help="where generated shops are cached")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--products", action="store_true", help="also the chatbot and inspection at two sizes each")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in _synthetic_shop.SIZES]
    if unknown or not sizes:
        parser.error(f"--sizes takes a subset of {','.join(_synthetic_shop.SIZES)}, got {args.sizes!r}")
    started = time.perf_counter()
    load_start = round(os.getloadavg()[0], 1)
    _server.activate(ENV)
    import django

    django.setup()
    result: dict = {"benchmark": "scale"}
    for size in sizes:
        try:
            result[size] = run_size(size, args.data, args.seed)
        except Exception as exc:  # noqa: BLE001 — a size that fails (or is killed) is reported in the table, not hidden
            log(f"{size}: FAILED {exc}")
            result[size] = {"error": str(exc)[:2000]}
    if args.products:
        result["products"] = {
            "chatbot": _scale_products.chatbot_scale([(1_000, 50), (10_000, 500)], args.data, args.seed),
            "inspection": _scale_products.inspection_scale([500, 5_000], args.data, args.seed),
        }
    result["slopes"] = slopes(result)
    ok_sizes = {s: result[s] for s in sizes if "error" not in result[s]}
    if "S" in ok_sizes and "L" in ok_sizes:
        result["serving_p95_ratio_L_to_S"] = round(ok_sizes["L"]["serving_p95_ms"] / ok_sizes["S"]["serving_p95_ms"], 2)
    if "L" in ok_sizes:
        large = ok_sizes["L"]
        result["targets"] = {
            "L_train_seconds_le_1800": large["train_seconds"] <= TARGETS["train_seconds"],
            "L_peak_rss_le_8gb": large["peak_rss_gb"] <= TARGETS["peak_rss_gb"],
            "L_model_memory_le_1gb": large["model_memory_per_process_mb"]["private_mb"] / 1000 <= TARGETS["model_memory_gb"],
        }
        if "serving_p95_ratio_L_to_S" in result:
            result["targets"]["serving_p95_ratio_le_2"] = result["serving_p95_ratio_L_to_S"] <= TARGETS["serving_p95_ratio"]
    result.update(
        command="tests/benchmarks/scale.py " + " ".join(sys.argv[1:]),
        date=_report.utc_now(),
        machine=_report.machine(),
        runtime_s=round(time.perf_counter() - started, 1),
        load_average_1m={"start": load_start, "end": round(os.getloadavg()[0], 1)},
    )
    if not args.no_write:
        write_docs(result, args)
    print(json.dumps(result), flush=True)
    return 0 if all("error" not in result[s] for s in sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
