"""Inspection line: a camera posts part images one by one; time from POST to verdict, end to end.

    python tests/benchmarks/inspection_line.py [--quick] [--rates 5,10,20] [--ramp 25,30,35,40] [--images 500]
        [--observe poll|webhook] [--poll-ms 25] [--fresh] [--data DIR]

The platform runs as in production (``docker/compose.yaml``): uvicorn serving ``platform_.asgi`` with 2 workers,
production settings, PostgreSQL (database ``downstream_bench_inspection_line``), Redis database 15 as broker, cache
and result backend, and the ``ml_gpu`` Celery worker (``--pool=solo --prefetch-multiplier=1``, on the CPU here); with
``--observe webhook`` also the ``default``-queue worker (``--concurrency 2``) that delivers the callbacks.

The models are the product's defaults (EfficientNet-Lite0 at 256×256; anomaly + defect type sharing one backbone
pass), trained through the real training path (``training_run_start`` + ``training_run_execute``) on real tiles
of the magnetic-tile set in ../shared, uploaded through ``image_receive`` with their labels and masks: 200 good
tiles and half of every defect class (seeded). A later run reuses the database and its models (``--fresh`` starts
over). The images the camera posts are the other tiles (good and defective, shuffled), cycled as needed, each with a
new client image id.

Each level posts N images (500; 100 with ``--quick``) at a steady rate, open loop (the i-th POST leaves at i/rate s
whatever happened to the earlier ones), one image per ``POST /api/v1/inspection/images/`` with an integrator token.
Latency runs from sending the POST to the verdict being available: ``--observe webhook`` (default) gives each image a
``callback_url`` on a receiver in this process and stops the clock when the callback arrives; ``--observe poll``
polls ``GET /api/v1/inspection/images/<id>/`` every ``--poll-ms`` ms (25) until it shows ``done``.
Levels: ``--rates`` (5, 10, 20 images/s), then ``--ramp`` rates upwards until one is not sustained. A level is
*sustained* when every image got its verdict, the backlog (images pending or processing, sampled every 0.1 s) in the
last quarter of the posting window is no larger than in its second quarter plus max(2, rate/10), and verdicts came at
≥ 90 % of the offered rate (first POST → last verdict).

Where the time goes, per level (medians over the level's images, from the result rows the worker wrote): POST (the
request), queue (receipt → the worker claimed the image), decode and model (the batch's), render (this heatmap),
before write (claim → this result's write), visible (result write → the client saw it: commit, dispatch of the
webhook or the poll). The model-only images/s of the same production models (one shared backbone pass, batches of
16, 2 threads, as ``tests/benchmarks/inspection.py`` measures it) is measured in this process before the levels.
The 1-minute load average is recorded at every level: other work on the machine shows there.

The last stdout line is one JSON object (``p95_ms_at_10``, ``sustained_images_per_second``, …); the numbers also go
into docs/benchmarks.md (section ``inspection_line``), except with ``--quick``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import _report
import _server

ROOT = _report.ROOT
DB_NAME = "downstream_bench_inspection_line"
REDIS_URL = "redis://127.0.0.1:6379/15"
# ../shared beside the repository (CI, /work/main), or two levels up for a git worktree under /work/wt/<name>.
_CANDIDATES = [base / "shared" / "data" / "defects" / "magnetic-tile" for base in (ROOT.parent, ROOT.parent.parent)]
DEFAULT_DATA = next((c for c in _CANDIDATES if c.exists()), _CANDIDATES[0])
SEED = 42
TRAIN_GOOD = 200
LINE, STATION = "Bench line", "Tile camera"
VERDICT_TIMEOUT_S = 180.0
SAMPLE_S = 0.1


def log(message: str) -> None:
    _report.log(f"{time.strftime('%H:%M:%S')} {message}")


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# --- data and models ---------------------------------------------------------------------------------------


def tile_rows(data: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(training rows, live rows): 200 good tiles and half of each defect class train; the rest are posted live."""
    import numpy as np

    with open(data / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = np.random.default_rng(SEED)
    train, live = [], []
    for cls in sorted({r["class"] for r in rows}):
        members = [rows[i] for i in rng.permutation([k for k, r in enumerate(rows) if r["class"] == cls])]
        cut = TRAIN_GOOD if cls == "Free" else len(members) // 2
        train += members[:cut]
        live += members[cut:]
    return train, [live[i] for i in rng.permutation(len(live))]


def seed(data: Path, *, fresh: bool) -> dict:
    """Migrate, seed the line, the station and the labelled tiles, train both families (once per database), and make
    an integrator token. Runs ``django.setup()`` here; closes this process's database connections before returning."""
    if fresh:
        _server.fresh_database(DB_NAME)
    else:
        _server.ensure_database(DB_NAME)
    _server.migrate(dict(os.environ))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from apps.accounts.models import Role
    from apps.accounts.services import api_token_create, user_create
    from apps.inspection import services
    from apps.inspection.families import ANOMALY_FAMILY, DEFECT_TYPE_FAMILY
    from apps.inspection.models import ImageSource, InspectionImage, ProductionLine, Station
    from apps.mlops import services as mlops_services
    from apps.mlops.models import Trigger
    from apps.mlops.selectors import production_version
    from ml.artifacts import ArtifactError, open_store

    train_rows, live_rows = tile_rows(data)
    line, _ = ProductionLine.objects.get_or_create(name=LINE)
    station = Station.objects.filter(line=line, name=STATION).first()
    station = station or services.station_create(line=line, name=STATION, camera="bench", part_type="magnetic tile")
    # The images an earlier run posted: gone, with their files, so that every run starts from the same table sizes.
    for image in InspectionImage.objects.filter(station=station, label="").select_related("result"):
        if getattr(image, "result", None) is not None and image.result.heatmap:
            image.result.heatmap.delete(save=False)
        image.file.delete(save=False)
    InspectionImage.objects.filter(station=station, label="").delete()
    created = 0
    for k, row in enumerate(train_rows):
        label = "ok" if row["class"] == "Free" else row["class"].lower()
        received = services.image_receive(
            station=station,
            client_image_id=f"train-{row['image']}",
            data=(data / row["image"]).read_bytes(),
            filename=Path(row["image"]).name,
            source=ImageSource.IMPORT,
            label=label,
            mask=(data / row["mask"]).read_bytes() if row.get("mask") and label != "ok" else None,
            inspect=False,
        )
        created += received.created
        if k and k % 100 == 0:
            log(f"seeded {k} labelled tiles")
    trained = {}
    for family in (ANOMALY_FAMILY, DEFECT_TYPE_FAMILY):
        version = production_version(family=family)
        if version is not None:
            try:
                open_store(settings.ARTIFACT_STORE_URI).fetch(version.artifact_uri, version.artifact_sha256)
            except ArtifactError as exc:
                raise SystemExit(f"the bench database's {family} model cannot be read ({exc}); run again with --fresh") from None
        if version is None:
            log(f"training {family} with the product's default config (once per database)…")
            started = time.perf_counter()
            run = mlops_services.training_run_start(family=family, trigger=Trigger.CLI, dispatch=False)
            run = mlops_services.training_run_execute(run_id=run.pk, worker="bench")
            version = production_version(family=family)
            if version is None:
                raise RuntimeError(f"{family} training ended {run.status}: {run.error[:500]}")
            log(f"{family} v{version.version} trained in {time.perf_counter() - started:.0f} s: {version.metrics}")
        trained[family] = {"version": version.version, "metrics": {k: v for k, v in (version.metrics or {}).items() if isinstance(v, int | float)}}
    user = user_create(username=f"camera-{int(time.time())}", password=None, role=Role.INTEGRATOR)
    _, secret = api_token_create(user=user, name="inspection line bench", scopes=["inspection:read", "inspection:write"])
    model_only = model_only_rate(data, live_rows)
    connection.close()
    if getattr(connection, "pool", None) is not None:
        connection.close_pool()
    return {"station": station.pk, "token": secret, "live": live_rows, "labelled_new": created, "models": trained, "model_only": model_only}


def model_only_rate(data: Path, live_rows: list[dict[str, str]], n: int = 96, batch: int = 16, rounds: int = 3) -> dict:
    """Images/s of the production models alone (shared backbone pass, batches of 16, 2 threads), median of 3 rounds;
    with glibc keeping freed memory, as the workers run (``ML_KEEP_FREED_MEMORY``)."""
    import torch
    from django.conf import settings

    from apps.inspection.families import ANOMALY_FAMILY, DEFECT_TYPE_FAMILY
    from apps.mlops.serving import model_cache
    from ml.device import keep_freed_memory
    from ml.vision import pipeline
    from ml.vision.backbone import to_gray_array

    if settings.ML_KEEP_FREED_MEMORY:
        keep_freed_memory()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    anomaly = model_cache.predictor(model_cache.production(ANOMALY_FAMILY))
    classifier = model_cache.predictor(model_cache.production(DEFECT_TYPE_FAMILY))
    arrays = [to_gray_array((data / r["image"]).read_bytes()) for r in live_rows[:n]]
    pipeline.predict(anomaly, classifier, arrays[:batch])  # warm-up
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for k in range(0, n, batch):
            pipeline.predict(anomaly, classifier, arrays[k : k + batch])
        rates.append(n / (time.perf_counter() - started))
    torch.set_num_threads(threads)
    model_cache.clear()
    return {"images_per_s": round(statistics.median(rates), 1), "rounds": [round(r, 1) for r in rates], "load_average": load_average()}


# --- the platform --------------------------------------------------------------------------------------------


def worker_cmd(queues: str, name: str, *pool: str) -> list[str]:
    return [str(_server.VENV_BIN / "celery"), "-A", "platform_", "worker", "-Q", queues, *pool, "-n", f"{name}@bench", "--loglevel=WARNING"]


# --- the camera ----------------------------------------------------------------------------------------------


class Receiver:
    """A tiny HTTP server for the callbacks: records when each image's callback arrived (wall clock)."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.waiters: dict[int, asyncio.Future] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
                body = json.loads(await reader.readexactly(length)) if length else {}
                at = time.time()
                image_id = int(body.get("id") or 0)
                self.arrived.setdefault(image_id, at)
                waiter = self.waiters.pop(image_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(at)
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def wait(self, image_id: int) -> float:
        if image_id in self.arrived:
            return self.arrived[image_id]
        future = asyncio.get_running_loop().create_future()
        self.waiters[image_id] = future
        if image_id in self.arrived:  # arrived between the check and the registration
            return self.arrived[image_id]
        return await future


class Backlog:
    """Samples the images pending or processing (PostgreSQL, every 0.1 s) in a thread."""

    def __init__(self, station: int) -> None:
        import psycopg

        self.conn = psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}", autocommit=True)
        self.station = station
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = "SELECT count(*) FROM inspection_inspectionimage WHERE station_id = %s AND status IN ('pending', 'processing')"
        while not self.stop.wait(SAMPLE_S):
            self.samples.append((time.time(), self.conn.execute(query, (self.station,)).fetchone()[0]))

    def __enter__(self) -> Backlog:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.conn.close()


async def run_level(
    base: str, setup: dict, data: Path, *, rate: float, n: int, offset: int, prefix: str, observe: str, poll_s: float, receiver: Receiver | None, hook: str
) -> list[dict]:
    """Post ``n`` images at ``rate``/s (open loop); one record per image: send/posted/seen wall times, id, errors."""
    import httpx

    live = setup["live"]
    payloads = [((data / live[(offset + i) % len(live)]["image"]).read_bytes(), Path(live[(offset + i) % len(live)]["image"]).name) for i in range(n)]
    headers = {"Authorization": f"Bearer {setup['token']}"}
    records: list[dict] = [{} for _ in range(n)]
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)

    async def one(http: httpx.AsyncClient, i: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        record = records[i]
        record["late_ms"] = (time.perf_counter() - at) * 1000
        record["sent"] = time.time()
        data_, name = payloads[i]
        form = {"station": str(setup["station"]), "client_image_id": f"{prefix}-{i:05d}"}
        if observe == "webhook":
            form["callback_url"] = hook
        try:
            response = await http.post("/api/v1/inspection/images/", data=form, files={"image": (name, data_, "image/jpeg")})
        except httpx.HTTPError as exc:
            record["error"] = f"POST {type(exc).__name__}"
            return
        record["posted"] = time.time()
        if response.status_code != 201:
            record["error"] = f"POST {response.status_code}: {response.text[:200]}"
            return
        image_id = response.json()["accepted"][0]["id"]
        record["id"] = image_id
        deadline = record["sent"] + VERDICT_TIMEOUT_S
        if observe == "webhook":
            try:
                record["seen"] = await asyncio.wait_for(receiver.wait(image_id), VERDICT_TIMEOUT_S)
            except TimeoutError:
                record["error"] = "no callback"
            return
        while time.time() < deadline:
            await asyncio.sleep(poll_s)
            try:
                polled = await http.get(f"/api/v1/inspection/images/{image_id}/")
            except httpx.HTTPError as exc:
                record["error"] = f"GET {type(exc).__name__}"
                return
            status = polled.json().get("status") if polled.status_code == 200 else f"HTTP {polled.status_code}"
            if status == "done":
                record["seen"] = time.time()
                return
            if status not in ("pending", "processing"):
                record["error"] = f"status {status}"
                return
        record["error"] = "no verdict"

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=VERDICT_TIMEOUT_S, limits=limits) as http:
        start = time.perf_counter() + 0.2
        await asyncio.gather(*(one(http, i, start + i / rate) for i in range(n)))
    return records


def percentile(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return round(values[0], 1) if values else None
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def breakdown(records: list[dict]) -> dict:
    """Medians of each stage, from the client's clocks and the result rows the worker wrote."""
    from apps.inspection.models import InspectionResult

    ids = [r["id"] for r in records if "seen" in r]
    rows = {
        image_id: (received.timestamp(), claimed.timestamp() if claimed else None, timings, batch)
        for image_id, received, claimed, timings, batch in InspectionResult.objects.filter(image_id__in=ids).values_list(
            "image_id", "image__received_at", "image__claimed_at", "timings_ms", "batch_size"
        )
    }
    stages: dict[str, list[float]] = {k: [] for k in ("post", "queue", "decode", "model", "render", "before_write", "visible")}
    batches = []
    for r in records:
        if "seen" not in r or r["id"] not in rows:
            continue
        received, claimed, timings, batch = rows[r["id"]]
        batches.append(batch)
        stages["post"].append((r["posted"] - r["sent"]) * 1000)
        for key in ("queue", "decode", "model", "render", "before_write"):
            if timings.get(key) is not None:
                stages[key].append(timings[key])
        if claimed is not None and timings.get("before_write") is not None:
            stages["visible"].append((r["seen"] - claimed) * 1000 - timings["before_write"])
    return {**{f"{k}_ms": median(v) for k, v in stages.items()}, "batch_size_mean": round(statistics.fmean(batches), 2) if batches else None}


def summarise(records: list[dict], samples: list[tuple[float, int]], rate: float, wall: float, cpu: dict) -> dict:
    done = [r for r in records if "seen" in r]
    latencies = [(r["seen"] - r["sent"]) * 1000 for r in done]
    errors: dict[str, int] = {}
    for r in records:
        if "error" in r:
            errors[r["error"][:60]] = errors.get(r["error"][:60], 0) + 1
    first, last_post = min(r["sent"] for r in records if "sent" in r), max(r["sent"] for r in records if "sent" in r)
    window = last_post - first
    in_window = [(t, b) for t, b in samples if first <= t <= last_post]

    def mean_between(lo: float, hi: float) -> float:
        values = [b for t, b in in_window if first + lo * window <= t <= first + hi * window]
        return statistics.fmean(values) if values else 0.0

    growth = mean_between(0.75, 1.0) - mean_between(0.25, 0.5)
    drain_s = (max(r["seen"] for r in done) - last_post) if done else None
    achieved = len(done) / (max(r["seen"] for r in done) - first) if done else 0.0
    sustained = not errors and len(done) == len(records) and growth <= max(2.0, rate / 10) and achieved >= 0.9 * rate
    return {
        "rate": rate,
        "images": len(records),
        "done": len(done),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "achieved_per_s": round(achieved, 1),
        "max_backlog": max((b for _, b in samples), default=0),
        "backlog_growth": round(growth, 1),
        "drain_s": round(drain_s, 2) if drain_s is not None else None,
        "sustained": sustained,
        "client_late_p95_ms": percentile([r["late_ms"] for r in records if "late_ms" in r], 95),
        "errors": errors,
        "wall_s": round(wall, 1),
        **cpu,
        "load_average": load_average(),
        **breakdown(records),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="5,10,20", help="images/s of the reported levels, comma-separated")
    parser.add_argument("--ramp", default="25,30,35,40", help="higher rates tried in order until one is not sustained")
    parser.add_argument("--images", type=int, default=500, help="images per level")
    parser.add_argument("--quick", action="store_true", help="100 images per level, ramp 30,40, no docs (a check while tuning)")
    parser.add_argument("--observe", choices=("poll", "webhook"), default="webhook")
    parser.add_argument("--poll-ms", type=float, default=25.0)
    parser.add_argument("--fresh", action="store_true", help="drop the bench database and train the models again")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="an extra variable for the web server and workers")
    args = parser.parse_args()
    if args.quick:
        args.images = 100 if args.images == parser.get_default("images") else args.images
        args.ramp = "30,40" if args.ramp == parser.get_default("ramp") else args.ramp
    rates = [float(x) for x in args.rates.split(",") if x]
    ramp = [float(x) for x in args.ramp.split(",") if x]
    started = time.perf_counter()
    load_start = load_average()

    var = ROOT / "var" / "bench" / "inspection_line"
    env = _server.production_env(
        DB_NAME,
        REDIS_URL,
        var,
        WEB_CONCURRENCY="2",
        # The receiver of the callbacks listens on 127.0.0.1.
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="true" if args.observe == "webhook" else "false",
        **dict(item.split("=", 1) for item in args.env),
    )
    _server.activate(env)
    _server.flush_redis([REDIS_URL])
    log(f"seeding (load average {load_start})…")
    setup = seed(args.data, fresh=args.fresh)
    log(f"model only: {setup['model_only']}")
    from chat_load import tree_cpu_s

    receiver = Receiver() if args.observe == "webhook" else None
    results: dict[str, dict] = {}
    web_env = {**env, "DATABASE_POOL_MAX_SIZE": "10"}
    gpu_env = {**env, "DATABASE_POOL_MAX_SIZE": "3"}
    cpu_env = {**env, "DATABASE_POOL_MAX_SIZE": "4"}

    async def levels(base: str, procs: dict) -> None:
        hook = ""
        server = None
        if receiver is not None:
            server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
            hook = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
        offset = 0
        # Warm-up, untimed: the worker loads the models with its first batch, each web process its code.
        await run_level(base, setup, args.data, rate=5, n=20, offset=offset, prefix=f"warm-{int(time.time())}", observe=args.observe,
                        poll_s=args.poll_ms / 1000, receiver=receiver, hook=hook)  # fmt: skip
        offset += 20
        plan = list(rates)
        ramping = False
        while plan:
            rate = plan.pop(0)
            cpu0 = {name: tree_cpu_s(p.pid) for name, p in procs.items()}
            with Backlog(setup["station"]) as backlog:
                t0 = time.perf_counter()
                records = await run_level(base, setup, args.data, rate=rate, n=args.images, offset=offset, prefix=f"r{rate:g}-{int(time.time())}",
                                          observe=args.observe, poll_s=args.poll_ms / 1000, receiver=receiver, hook=hook)  # fmt: skip
                wall = time.perf_counter() - t0
            offset += args.images
            cpu = {f"{name}_cpu_ms_per_image": round((tree_cpu_s(p.pid) - cpu0[name]) * 1000 / args.images, 1) for name, p in procs.items()}
            row = await asyncio.to_thread(summarise, records, backlog.samples, rate, wall, cpu)  # the ORM is sync-only
            results[f"{rate:g}"] = row
            log(json.dumps(row))
            for name, p in procs.items():
                _server.fail_if_exited(p, name, var / f"{name}.log")
            if not plan and not ramping:
                ramping = True
                if all(r["sustained"] for r in results.values()):
                    plan = list(ramp)
                else:  # a reported level already fell behind: look below it instead
                    lowest = min(float(k) for k, r in results.items() if not r["sustained"])
                    plan = [lowest * 0.75] if lowest * 0.75 > max([float(k) for k, r in results.items() if r["sustained"]] or [0]) else []
            elif ramping and not row["sustained"]:
                plan = []
            await asyncio.sleep(1.0)
        if server is not None:
            server.close()

    gpu_cmd = worker_cmd("ml_gpu", "gpu", "--pool=solo", "--prefetch-multiplier=1")
    with _server.process("worker-gpu", gpu_cmd, gpu_env) as (gpu, _):
        procs = {"worker-gpu": gpu}
        cpu_ctx = _server.process("worker-cpu", worker_cmd("default,ml_cpu", "cpu", "--concurrency", "2"), cpu_env) if receiver else None
        with cpu_ctx if cpu_ctx is not None else _nothing() as cpu_worker, _server.start_uvicorn(web_env, 2) as (base, web, _):
            procs = {"web": web, **procs, **({"worker-cpu": cpu_worker[0]} if cpu_worker else {})}
            time.sleep(2)
            asyncio.run(levels(base, procs))
        log_errors = {
            name: sum(1 for line in (var / f"{name}.log").read_text(errors="replace").splitlines() if "Traceback" in line or " ERROR " in line)
            for name in ("uvicorn", "worker-gpu", *(["worker-cpu"] if receiver else []))
        }

    sustained = [float(k) for k, r in results.items() if r["sustained"]]
    model_only = setup["model_only"]["images_per_s"]
    best = max(sustained, default=0.0)

    def at(rate: float, key: str) -> float | None:
        row = results.get(f"{rate:g}")
        return row[key] if row else None

    result = {
        "p50_ms_at_5": at(5, "p50_ms"),
        "p95_ms_at_5": at(5, "p95_ms"),
        "p95_ms_at_10": at(10, "p95_ms"),
        "p99_ms_at_10": at(10, "p99_ms"),
        "p95_ms_at_20": at(20, "p95_ms"),
        "sustained_images_per_second": best,
        "model_only_images_per_second": model_only,
        "sustained_share_of_model_only": round(best / model_only, 2) if model_only else None,
        "observe": args.observe,
        "poll_ms": args.poll_ms if args.observe == "poll" else None,
        "images_per_level": args.images,
        "levels": results,
        "model_only": setup["model_only"],
        "models": setup["models"],
        "log_errors": log_errors,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "date": _report.utc_now(),
        "machine": _report.machine(),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    if not (args.quick or args.no_docs):
        write_docs(result, args)
    print(json.dumps(result))
    return 0


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


COLUMNS = [
    *("images/s", "done", "p50 ms", "p95 ms", "p99 ms", "achieved/s", "max backlog", "sustained", "batch"),
    *("POST", "queue", "decode", "model", "render", "before write", "visible", "web CPU ms/img", "worker CPU ms/img", "load"),
]


def write_docs(result: dict, args: argparse.Namespace) -> None:
    rows = [
        [
            f"{r['rate']:g}",
            f"{r['done']}/{r['images']}",
            r["p50_ms"],
            r["p95_ms"],
            r["p99_ms"],
            r["achieved_per_s"],
            r["max_backlog"],
            "yes" if r["sustained"] else "no",
            r["batch_size_mean"],
            r["post_ms"],
            r["queue_ms"],
            r["decode_ms"],
            r["model_ms"],
            r["render_ms"],
            r["before_write_ms"],
            r["visible_ms"],
            r.get("web_cpu_ms_per_image"),
            r.get("worker-gpu_cpu_ms_per_image"),
            r["load_average"],
        ]
        for r in result["levels"].values()
    ]
    how = f"polls `GET /api/v1/inspection/images/<id>/` every {args.poll_ms:g} ms" if args.observe == "poll" else "waits for the webhook"
    mo = result["model_only"]
    body = "\n".join(
        [
            f"Measured {result['date']} on {result['machine']}; 1-minute load average {result['load_average_start']} at the start,"
            f" {result['load_average_end']} at the end (per level in the table).",
            f"`python tests/benchmarks/inspection_line.py --rates {args.rates} --ramp {args.ramp} --images {args.images} --observe {args.observe}`"
            f" — uvicorn with 2 workers, production settings, PostgreSQL, Redis, the ml_gpu Celery worker (solo pool, prefetch 1) on the CPU;"
            f" product default models (anomaly v{result['models']['inspection.anomaly']['version']}, defect type"
            f" v{result['models']['inspection.defect_type']['version']}) trained through the real training path on magnetic tiles."
            f" Whole run {result['runtime_s']} s.",
            "",
            f"Each level posts {args.images} tiles one per request at a steady rate (open loop); the client {how}. Latency: POST sent → verdict"
            " available. Stage columns are medians in ms: POST (request), queue (receipt → claimed), decode and model (the batch's),"
            " render (the heatmap), before write (claim → write of the result), visible (result write → client saw it). Sustained: every"
            " verdict arrived, the backlog did not grow over the level, verdicts came at ≥ 90 % of the offered rate.",
            "",
            _report.table(COLUMNS, rows),
            "",
            f"Targets: p95 ≤ 500 ms at 10 images/s (measured {result['p95_ms_at_10']}); sustained ≥ 80 % of the model-only rate"
            f" (sustained {result['sustained_images_per_second']:g} images/s; model only {result['model_only_images_per_second']} images/s,"
            f" rounds {mo['rounds']}, same run, load {mo['load_average']}; share {result['sustained_share_of_model_only']}).",
        ]
    )
    _report.write_section("inspection_line", body)


if __name__ == "__main__":
    sys.exit(main())
