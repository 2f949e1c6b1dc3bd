"""Chatbot and inspection at two sizes each (issue 18): how training, indexing, serving and memory grow.

Called by ``scale.py --products``; runs on its own too (from the repository root)::

    .venv/bin/python tests/benchmarks/_scale_products.py [--chatbot 1000x50,10000x500] [--inspection 500,5000] [--data DIR]

Chatbot, ``ARTICLESxINTENTS``: a seeded synthetic help desk (``_synthetic_helpdesk.py``: 20 customer messages per
intent, FAQ articles spread over the intents) is loaded into PostgreSQL (database ``downstream_bench_products``,
recreated per size; Redis db 9, flushed), then, each in a fresh process with production settings:

- the intent model (``chatbot.intent``, the product's default config) trains through the task code: seconds, peak
  RSS, validation accuracy;
- a process running the web code builds the FAQ index (``apps.chatbot.engine``, encoder already loaded): seconds
  and the memory it adds; answers ``latency_messages`` held-out messages through ``services.customer_message_post``
  (the reply path of the widget's HTTP API without the HTTP: intent, FAQ search, database writes, channel-layer
  publish), one new conversation each, one torch thread as ``CHATBOT_INFERENCE_THREADS=1``: p50/p95 and how often
  the intent was right; then one article is edited and the index rebuilt: seconds and texts encoded.

Inspection, ``IMAGES``: that many good training images derived from the magnetic tiles in ../shared (the good tiles
as they are, then seeded crops and flips of them, cached under ``DIR/products``; held-out good tiles and defective
ones are never among them), or seeded synthetic parts (``ml.vision.synthetic``) where the tiles are missing. In a
fresh process the anomaly model (default ``AnomalyConfig``) trains on them: seconds (fit + calibration), peak RSS
beside the predicted one (``memory_estimate``), the memory bank's rows × dims and MB, image and pixel AUROC on
``validation_images`` held-out tiles (half good, half defective), then images/s of the loaded model alone on
``speed_images`` decoded images in batches of 16.

Log–log slopes say how each cost grows with articles (FAQ costs), training examples (intent training) or images.
The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from pathlib import Path

import _report
import _server
import _synthetic_helpdesk
import numpy as np

ROOT = _report.ROOT
CHAT_DB = "downstream_bench_products"
CHAT_REDIS = "redis://127.0.0.1:6379/9"
SITE_KEY = "pk_bench_products"
SPEED_BATCH = 16
log = _report.log

# ../shared beside the repository, or two levels up for a git worktree.
_TILES = [base / "shared" / "data" / "defects" / "magnetic-tile" for base in (ROOT.parent, ROOT.parent.parent)]
TILES = next((t for t in _TILES if (t / "labels.csv").is_file()), _TILES[0])


def loglog_slope(xs: list[float], ys: list[float]) -> float | None:
    """Slope of log y against log x (1 = linear growth, 0 = flat); None with fewer than two usable points."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x and y and x > 0 and y > 0]
    if len(points) < 2:
        return None
    mx, my = statistics.fmean(p[0] for p in points), statistics.fmean(p[1] for p in points)
    den = sum((p[0] - mx) ** 2 for p in points)
    return round(sum((p[0] - mx) * (p[1] - my) for p in points) / den, 2) if den else None


def _slopes(done: list[dict], x_key: str, keys: tuple[str, ...]) -> dict[str, float | None]:
    return {key: loglog_slope([r[x_key] for r in done], [r[key] for r in done]) for key in keys} if len(done) >= 2 else {}


_PEAK_RSS = "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2"  # GB (ru_maxrss is in kB on Linux)

# --- chatbot ------------------------------------------------------------------------------------------------

_DJANGO = """
import json, resource, sys, time
import django
django.setup()
"""
_CHAT_LOAD = (
    _DJANGO
    + """
from django.db import transaction
from apps.chatbot.models import Example, ExampleSource, FaqArticle, Intent, IntentAction, Site
desk = json.load(open(sys.argv[1]))
with transaction.atomic():
    Site.objects.create(name="bench", site_key=sys.argv[2])
    intents = Intent.objects.bulk_create([Intent(name=i["name"], description=i["description"], action=IntentAction.FAQ) for i in desk["intents"]])
    Example.objects.bulk_create(
        [Example(intent=intent, text=text, source=ExampleSource.IMPORT) for intent, i in zip(intents, desk["intents"]) for text in i["examples"]],
        batch_size=5000,
    )
    FaqArticle.objects.bulk_create([FaqArticle(**a) for a in desk["articles"]], batch_size=5000)
print(json.dumps({"intents": Intent.objects.count(), "examples": Example.objects.count(), "articles": FaqArticle.objects.count()}))
"""
)
_CHAT_TRAIN = (
    _DJANGO
    + f"""
from apps.chatbot.families import INTENT_FAMILY
from apps.mlops import services as mlops
started = time.perf_counter()
run = mlops.training_run_start(family=INTENT_FAMILY, trigger="cli", dispatch=False, config=json.loads(sys.argv[1]))
run = mlops.training_run_execute(run_id=run.pk, worker="bench-scale-products")
version = run.model_version
print(json.dumps({{
    "status": run.status, "error": run.error[:2000], "seconds": time.perf_counter() - started, "peak_rss_gb": {_PEAK_RSS},
    "metrics": version.metrics if version else {{}}, "is_production": bool(version and version.status == "production"),
}}))
"""
)
# A process running the web code: FAQ index, replies, an edit and the rebuild after it.
_CHAT_SERVE = (
    _DJANGO
    + f"""
import torch
torch.set_num_threads(int(sys.argv[3]))
from apps.chatbot import engine, services
from apps.chatbot.models import FaqArticle
messages = json.load(open(sys.argv[1]))["messages"][: int(sys.argv[4])]
def rss_mb():
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1]) / 1024
engine._pretrained_encoder().encode(["warm-up"])  # loaded once per process anyway; the index build is what grows with the articles
before = rss_mb()
started = time.perf_counter()
searcher = engine.faq_searcher()
build_s = time.perf_counter() - started
index_mb = rss_mb() - before
services.customer_message_post(conversation=services.session_start(site_key=sys.argv[2]), text=messages[0][0])  # loads the intent model
samples, right, sources = [], 0, {{}}
for text, intent in messages:
    conversation = services.session_start(site_key=sys.argv[2])
    started = time.perf_counter_ns()
    created = services.customer_message_post(conversation=conversation, text=text)
    samples.append((time.perf_counter_ns() - started) / 1e6)
    right += created[0].intent == intent
    source = created[-1].answer_source if len(created) > 1 else "none"
    sources[source] = sources.get(source, 0) + 1
article = FaqArticle.objects.order_by("id")[len(searcher.articles) // 2]
article.question = article.question.rstrip("?") + " (updated)?"
article.save()
started = time.perf_counter()
rebuilt = engine.faq_searcher()
print(json.dumps({{
    "index_build_s": build_s, "index_mb": index_mb, "index_articles": len(searcher.articles), "index_encoded": searcher.encoded,
    "reindex_s": time.perf_counter() - started, "reindex_encoded": rebuilt.encoded, "reply_ms": samples,
    "intent_accuracy": right / len(messages), "answer_sources": sources, "peak_rss_gb": {_PEAK_RSS},
}}))
"""
)


def chatbot_env(threads: int) -> dict[str, str]:
    return _server.production_env(
        CHAT_DB,
        CHAT_REDIS,
        ROOT / "var" / "bench-products-run",
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS="1",
        CHATBOT_WARM_UP="false",
        # One client sends every message: the per-client and per-conversation limits would refuse a benchmark.
        CHATBOT_SESSIONS_PER_MINUTE="1000000",
        CHATBOT_SITE_SESSIONS_PER_MINUTE="1000000",
        CHATBOT_MESSAGES_PER_MINUTE="1000000",
    )


def chatbot_size(
    articles: int, intents: int, data_dir: Path, seed: int, latency_messages: int, intent_config: dict, examples_per_intent: int, threads: int
) -> dict:
    env = chatbot_env(threads)
    (Path(env["DOWNSTREAM_VAR_DIR"]) / "staticfiles").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    desk, path = _synthetic_helpdesk.load_or_generate(articles, intents, Path(data_dir) / "products", seed, examples_per_intent)
    result: dict = {"articles": len(desk.articles), "intents": len(desk.intents), "examples": desk.examples}
    _server.fresh_database(CHAT_DB)
    _server.flush_redis([CHAT_REDIS])
    _server.migrate(env, timeout=600)
    loaded = _server.json_child(_CHAT_LOAD, env, timeout=1800, args=(str(path), SITE_KEY))
    result["setup_seconds"] = round(time.perf_counter() - started, 1)
    log(f"chatbot {articles}x{intents}: {loaded} loaded in {result['setup_seconds']} s")

    trained = _server.json_child(_CHAT_TRAIN, env, timeout=4 * 3600, args=(json.dumps(intent_config),))
    if trained["status"] != "succeeded" or not trained["is_production"]:
        raise RuntimeError(f"intent training {trained['status']} (production: {trained['is_production']}): {trained['error']}")
    result.update(
        train_seconds=round(trained["seconds"], 1),
        train_peak_rss_gb=round(trained["peak_rss_gb"], 2),
        validation_accuracy=round(trained["metrics"].get("accuracy", float("nan")), 4),
    )
    log(f"chatbot {articles}x{intents}: trained in {result['train_seconds']} s, peak RSS {result['train_peak_rss_gb']} GB")

    served = _server.json_child(_CHAT_SERVE, env, timeout=3600, args=(str(path), SITE_KEY, str(threads), str(latency_messages)))
    reply = _report.summarise_ms([int(ms * 1e6) for ms in served["reply_ms"]])
    result.update(
        index_build_s=round(served["index_build_s"], 2),
        index_mb=round(served["index_mb"], 1),
        reindex_s=round(served["reindex_s"], 3),
        reindex_encoded=served["reindex_encoded"],
        reply_p50_ms=reply["p50"],
        reply_p95_ms=reply["p95"],
        reply_messages=reply["n"],
        reply_intent_accuracy=round(served["intent_accuracy"], 4),
        answer_sources=served["answer_sources"],
        serve_peak_rss_gb=round(served["peak_rss_gb"], 2),
    )
    log(
        f"chatbot {articles}x{intents}: index {result['index_build_s']} s (+{result['index_mb']} MB), re-index {result['reindex_s']} s "
        f"({result['reindex_encoded']} encoded), reply p50/p95 {reply['p50']}/{reply['p95']} ms, intent right {result['reply_intent_accuracy']}"
    )
    return result


def chatbot_scale(
    sizes: list[tuple[int, int]],
    data_dir: Path,
    seed: int,
    latency_messages: int = 200,
    intent_config: dict | None = None,
    examples_per_intent: int = 20,
    threads: int = 2,
) -> dict:
    """One entry per ``(articles, intents)`` size (``"ARTICLESxINTENTS"``; ``{"error": ...}`` when it failed) and ``slopes``."""
    out: dict = {}
    for articles, intents in sizes:
        key = f"{articles}x{intents}"
        try:
            out[key] = chatbot_size(articles, intents, data_dir, seed, latency_messages, intent_config or {}, examples_per_intent, threads)
        except Exception as exc:  # noqa: BLE001 — a size that fails (or is killed) is reported, not hidden
            log(f"chatbot {key}: FAILED {exc}")
            out[key] = {"error": str(exc)[:2000]}
    done = [r for r in out.values() if "error" not in r]
    out["slopes"] = {
        **_slopes(done, "examples", ("train_seconds", "train_peak_rss_gb")),
        **_slopes(done, "articles", ("index_build_s", "index_mb", "reindex_s", "reply_p95_ms", "serve_peak_rss_gb")),
    }
    return out


# --- inspection ---------------------------------------------------------------------------------------------

_INSPECT = f"""
import json, resource, sys, time
spec = json.load(open(sys.argv[1]))
import numpy as np
import torch
torch.set_num_threads(spec["threads"])
from ml.device import select_device
from ml.vision import AnomalyConfig, AnomalyDataset, AnomalyPredictor, anomaly_memory_estimate, train_anomaly
from ml.vision.backbone import to_gray_array
device = select_device(spec["device"])
dataset = AnomalyDataset(
    train_good=spec["train"], calibration_good=spec["calibration"], validation=spec["validation"],
    validation_labels=spec["labels"], validation_masks=spec["masks"],
)
config = AnomalyConfig()
estimate = anomaly_memory_estimate(config, dataset)
stamps = {{}}
def progress(percent, stage, metrics=None):
    stamps.setdefault(stage, time.perf_counter())
started = time.perf_counter()
trained = train_anomaly(dataset, config, progress, device)
train_s = stamps.get("evaluating", time.perf_counter()) - started  # fit + calibration, not the evaluation
peak = {_PEAK_RSS}
bank = trained.model.scorer.state.get("bank")
trained.save(spec["artifact"])
predictor = AnomalyPredictor.load(spec["artifact"], device)
arrays = [to_gray_array(p) for p in spec["speed"]]
predictor.predict_batch(arrays[:{SPEED_BATCH}])  # warm-up
rates = []
for _ in range(2):
    t0 = time.perf_counter()
    for s in range(0, len(arrays), {SPEED_BATCH}):
        predictor.predict_batch(arrays[s : s + {SPEED_BATCH}])
    rates.append(len(arrays) / (time.perf_counter() - t0))
print(json.dumps({{
    "train_s": train_s, "fit_s": trained.metrics["fit_seconds"], "peak_rss_gb": peak, "estimate_gb": estimate.peak_bytes / 1024**3,
    "bank_rows": int(bank.shape[0]) if bank is not None else 0, "bank_dims": int(bank.shape[1]) if bank is not None else 0,
    "bank_mb": bank.numel() * bank.element_size() / 1e6 if bank is not None else 0.0,
    "image_auroc": trained.metrics.get("image_auroc"), "pixel_auroc": trained.metrics.get("pixel_auroc"),
    "images_per_s": max(rates), "speed_images": len(arrays),
}}))
"""


def _tile_rows() -> list[dict[str, str]]:
    with open(TILES / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def inspection_images(count: int, data_dir: Path, seed: int, validation_images: int = 200, calibration_images: int = 50) -> dict:
    """Paths of ``count`` good training images, ``calibration_images`` held-out good ones, and ``validation_images``
    held-out images (half good, half defective) with labels and masks: magnetic tiles where ../shared has them,
    otherwise synthetic parts. Derived images are cached under ``data_dir/products``."""
    if (TILES / "labels.csv").is_file():
        return _tile_images(count, Path(data_dir) / "products" / f"magnetic-tile-seed{seed}", seed, validation_images, calibration_images)
    return _synthetic_images(count, Path(data_dir) / "products" / f"synthetic-parts-seed{seed}", seed, validation_images, calibration_images)


def _tile_images(count: int, cache: Path, seed: int, validation_images: int, calibration_images: int) -> dict:
    from PIL import Image

    rows = _tile_rows()
    good = [r for r in rows if r["is_defective"] == "0"]
    bad = [r for r in rows if r["is_defective"] == "1"]
    rng = np.random.default_rng(seed)
    good = [good[i] for i in rng.permutation(len(good))]
    n_val_good = validation_images // 2
    held, sources = good[: calibration_images + n_val_good], good[calibration_images + n_val_good :]
    bad = [bad[i] for i in rng.permutation(len(bad))[: validation_images - n_val_good]]
    validation = held[calibration_images:] + bad
    train: list[str] = []
    cache.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        source = TILES / sources[k % len(sources)]["image"]
        if k < len(sources):  # every good tile once as it is, then seeded crops and flips of them
            train.append(str(source))
            continue
        path = cache / f"good-{k:05d}.png"
        if not path.is_file():
            r = np.random.default_rng([seed, k])
            with Image.open(source) as img:
                array = np.asarray(img.convert("L"))
            h, w = array.shape
            ch, cw = int(h * r.uniform(0.8, 1.0)), int(w * r.uniform(0.8, 1.0))
            y, x = int(r.integers(0, h - ch + 1)), int(r.integers(0, w - cw + 1))
            array = array[y : y + ch, x : x + cw]
            array = array[:, ::-1] if r.random() < 0.5 else array
            array = array[::-1] if r.random() < 0.5 else array
            tmp = path.with_suffix(".tmp.png")
            Image.fromarray(np.ascontiguousarray(array)).save(tmp)
            tmp.replace(path)
        train.append(str(path))
    return {
        "source": f"magnetic tiles ({len(sources)} good tiles, then seeded crops and flips of them)",
        "train": train,
        "calibration": [str(TILES / r["image"]) for r in held[:calibration_images]],
        "validation": [str(TILES / r["image"]) for r in validation],
        "labels": [int(r["is_defective"]) for r in validation],
        "masks": [str(TILES / r["mask"]) if r.get("mask") else None for r in validation],
    }


def _synthetic_images(count: int, cache: Path, seed: int, validation_images: int, calibration_images: int) -> dict:
    from PIL import Image

    from ml.vision.synthetic import DEFECT_TYPES, make_part

    cache.mkdir(parents=True, exist_ok=True)

    def saved(name: str, k: int, kind: str) -> tuple[str, str]:
        image, mask = cache / f"{name}-{k:05d}.png", cache / f"{name}-{k:05d}-mask.png"
        if not (image.is_file() and mask.is_file()):
            part = make_part(seed * 1_000_003 + k, kind, 256, 256)
            Image.fromarray(part.mask).save(mask)
            Image.fromarray(part.image).save(image)
        return str(image), str(mask)

    n_val_good = validation_images // 2
    held = [saved("held", k, "") for k in range(calibration_images + n_val_good)]
    bad = [saved("defect", k, DEFECT_TYPES[k % len(DEFECT_TYPES)]) for k in range(validation_images - n_val_good)]
    validation = held[calibration_images:] + bad
    return {
        "source": "synthetic parts (ml.vision.synthetic; no magnetic tiles in ../shared)",
        "train": [saved("good", k, "")[0] for k in range(count)],
        "calibration": [image for image, _ in held[:calibration_images]],
        "validation": [image for image, _ in validation],
        "labels": [0] * n_val_good + [1] * len(bad),
        "masks": [mask for _, mask in validation],
    }


def inspection_size(count: int, data_dir: Path, seed: int, device: str, speed_images: int, validation_images: int, threads: int) -> dict:
    started = time.perf_counter()
    data = inspection_images(count, data_dir, seed, validation_images)
    speed = (data["validation"] * (1 + speed_images // max(1, len(data["validation"]))))[:speed_images]
    work = Path(data_dir) / "products" / "runs"
    work.mkdir(parents=True, exist_ok=True)
    spec_path = work / f"inspection-{count}.json"
    spec = {**data, "speed": speed, "threads": threads, "device": device, "artifact": str(work / f"anomaly-{count}.pt")}
    spec_path.write_text(json.dumps(spec))
    setup_s = round(time.perf_counter() - started, 1)
    log(f"inspection {count}: {data['source']}; images ready in {setup_s} s")
    env = {"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": "1", "ML_DEVICE": device}
    r = _server.json_child(_INSPECT, env, timeout=6 * 3600, args=(str(spec_path),))
    result = {
        "images": count,
        "data": data["source"],
        "setup_seconds": setup_s,
        "train_seconds": round(r["train_s"], 1),
        "fit_seconds": round(r["fit_s"], 1),
        "train_peak_rss_gb": round(r["peak_rss_gb"], 2),
        "estimated_peak_gb": round(r["estimate_gb"], 2),
        "memory_bank": f"{r['bank_rows']} × {r['bank_dims']}",
        "memory_bank_mb": round(r["bank_mb"], 1),
        "training_images_per_s": round(count / r["train_s"], 1) if r["train_s"] > 0 else None,
        "images_per_s": round(r["images_per_s"], 1),
        "speed_images": r["speed_images"],
        "image_auroc": round(r["image_auroc"], 4) if r["image_auroc"] is not None else None,
        "pixel_auroc": round(r["pixel_auroc"], 4) if r["pixel_auroc"] is not None else None,
        "validation_images": len(data["validation"]),
    }
    log(
        f"inspection {count}: trained in {result['train_seconds']} s, peak RSS {result['train_peak_rss_gb']} GB (estimate "
        f"{result['estimated_peak_gb']}), bank {result['memory_bank']} ({result['memory_bank_mb']} MB), {result['images_per_s']} img/s, "
        f"AUROC {result['image_auroc']} / pixel {result['pixel_auroc']}"
    )
    return result


def inspection_scale(
    sizes: list[int], data_dir: Path, seed: int, device: str = "cpu", speed_images: int = 96, validation_images: int = 200, threads: int = 2
) -> dict:
    """One entry per training-image count (``{"error": ...}`` when it failed) and ``slopes``."""
    out: dict = {}
    for count in sizes:
        try:
            out[str(count)] = inspection_size(count, data_dir, seed, device, speed_images, validation_images, threads)
        except Exception as exc:  # noqa: BLE001 — a size that fails (or is killed) is reported, not hidden
            log(f"inspection {count}: FAILED {exc}")
            out[str(count)] = {"error": str(exc)[:2000]}
    done = [r for r in out.values() if "error" not in r]
    out["slopes"] = _slopes(done, "images", ("train_seconds", "train_peak_rss_gb", "memory_bank_mb", "images_per_s"))
    return out


# --- report -------------------------------------------------------------------------------------------------


def markdown(products: dict) -> str:
    """The chatbot and inspection results as markdown tables (for docs/benchmarks.md)."""
    parts = []
    chat = products.get("chatbot") or {}
    rows = []
    for key, r in chat.items():
        if key == "slopes":
            continue
        if "error" in r:
            rows.append([key, "failed: " + r["error"][:120]] + [""] * 9)
            continue
        rows.append(
            [
                f"{r['articles']:,} × {r['intents']:,} ({r['examples']:,} examples)",
                r["train_seconds"],
                r["train_peak_rss_gb"],
                r["validation_accuracy"],
                r["index_build_s"],
                r["index_mb"],
                f"{r['reindex_s']} ({r['reindex_encoded']})",
                f"{r['reply_p50_ms']} / {r['reply_p95_ms']}",
                r["reply_intent_accuracy"],
                r["serve_peak_rss_gb"],
            ]
        )
    if rows:
        header = [
            "FAQ articles × intents",
            "intent train s",
            "train peak RSS GB",
            "validation accuracy",
            "FAQ index build s",
            "index MB",
            "re-index after one edit s (texts encoded)",
            "reply p50 / p95 ms",
            "intent right (replies)",
            "web process peak RSS GB",
        ]
        parts += ["Chatbot (synthetic help desk, intent model with the default config):", "", _report.table(header, rows), ""]
        if chat.get("slopes"):
            parts += ["Growth (log–log slope; training against examples, the rest against articles): " + _slope_text(chat["slopes"]), ""]
    rows = []
    for key, r in (products.get("inspection") or {}).items():
        if key == "slopes":
            continue
        if "error" in r:
            rows.append([key, "failed: " + r["error"][:120]] + [""] * 7)
            continue
        rows.append(
            [
                f"{r['images']:,}",
                r["train_seconds"],
                f"{r['train_peak_rss_gb']} ({r['estimated_peak_gb']})",
                f"{r['memory_bank']} ({r['memory_bank_mb']} MB)",
                r["training_images_per_s"],
                r["images_per_s"],
                r["image_auroc"],
                r["pixel_auroc"],
            ]
        )
    if rows:
        header = [
            "good training images",
            "train s (fit + calibration)",
            "peak RSS GB, training + evaluation (predicted)",
            "memory bank rows × dims (MB)",
            "training images/s",
            "inference images/s (model only)",
            "image AUROC",
            "pixel AUROC",
        ]
        inspection = products["inspection"]
        source = next((r["data"] for k, r in inspection.items() if k != "slopes" and "data" in r), "")
        parts += [f"Inspection (anomaly model, default config; {source}):", "", _report.table(header, rows), ""]
        if inspection.get("slopes"):
            parts += ["Growth (log–log slope against images): " + _slope_text(inspection["slopes"]), ""]
    return "\n".join(parts)


def _slope_text(slopes: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in slopes.items())


def _chat_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        articles, _, intents = part.lower().partition("x")
        sizes.append((int(articles), int(intents)))
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chatbot", default="1000x50,10000x500", help="ARTICLESxINTENTS sizes, comma-separated ('' skips the chatbot)")
    parser.add_argument("--inspection", default="500,5000", help="good-image counts, comma-separated ('' skips inspection)")
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "bench-scale", help="generated data is cached under DATA/products")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--latency-messages", type=int, default=200)
    parser.add_argument("--device", default="cpu", help="inspection's device (cpu, cuda)")
    args = parser.parse_args()
    try:
        chat_sizes = _chat_sizes(args.chatbot)
        images = [int(p) for p in args.inspection.split(",") if p.strip()]
    except ValueError:
        parser.error("--chatbot takes sizes like 1000x50,10000x500 and --inspection counts like 500,5000")
    started = time.perf_counter()
    result: dict = {"benchmark": "scale_products"}
    if chat_sizes:
        result["chatbot"] = chatbot_scale(chat_sizes, args.data, args.seed, latency_messages=args.latency_messages, threads=args.threads)
    if images:
        result["inspection"] = inspection_scale(images, args.data, args.seed, device=args.device, threads=args.threads)
    result.update(
        command="tests/benchmarks/_scale_products.py " + " ".join(sys.argv[1:]),
        date=_report.utc_now(),
        machine=_report.machine(),
        runtime_s=round(time.perf_counter() - started, 1),
    )
    print(markdown(result), flush=True)
    print(json.dumps(result), flush=True)
    failed = [k for part in ("chatbot", "inspection") for k, r in result.get(part, {}).items() if k != "slopes" and "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
