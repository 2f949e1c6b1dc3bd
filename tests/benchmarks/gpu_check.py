"""GPU check: train the demo family through the real Celery task code on the device ML_DEVICE names.

Run on a GPU host from the repository root (``make gpu-check``)::

    ML_DEVICE=cuda .venv/bin/python tests/benchmarks/gpu_check.py [--compare-cpu] [--quick]

It uses a fresh SQLite database and file-system broker under a temporary directory, runs ``mlops.train_run``
in-process with Celery's ``apply()`` (the real task function, no worker), and prints what the run recorded. The
last line of stdout is one JSON object. ``--compare-cpu`` trains the same config on the CPU afterwards;
``--quick`` trains a small config and does not touch docs/benchmarks.md. Exits 2 when ML_DEVICE asks for a device
this host does not have.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import _report

# A fixed data_seed: without it each run draws its own data, and the GPU and CPU runs would not be comparable.
FULL_CONFIG = {"epochs": 200, "n_samples": 200_000, "batch_size": 4096, "data_seed": 1}
QUICK_CONFIG = {"epochs": 5, "n_samples": 5_000, "batch_size": 512, "data_seed": 1}
WARMUP_CONFIG = {"epochs": 1, "n_samples": 1_000, "batch_size": 256, "data_seed": 1}


def log(message: str) -> None:
    print(f"[gpu-check] {message}", flush=True)


def check_device() -> str:
    """The device description training will use; exits 2 when ML_DEVICE names one that is not there."""
    from ml.device import DeviceUnavailable, select_device

    try:
        return select_device().description
    except DeviceUnavailable as exc:
        print(
            f"gpu-check: {exc} (ML_DEVICE={os.environ.get('ML_DEVICE', '')!r}). Run it on a host with a CUDA GPU "
            "and a CUDA build of torch, or set ML_DEVICE=cpu to try the script.",
            file=sys.stderr,
        )
        sys.exit(2)


def train_once(config: dict, device: str) -> dict:
    """One run of the demo family through ``mlops.train_run`` on ``device`` (an ML_DEVICE value)."""
    from apps.mlops import services
    from apps.mlops.demo_family import DEMO_FAMILY
    from apps.mlops.models import RunStatus, Trigger
    from apps.mlops.tasks import train_run

    previous = os.environ.get("ML_DEVICE")
    os.environ["ML_DEVICE"] = device
    try:
        run = services.training_run_start(family=DEMO_FAMILY, trigger=Trigger.CLI, dispatch=False, config=config)
        started = time.perf_counter()
        outcome = train_run.apply(args=[run.pk])
        wall = time.perf_counter() - started
    finally:
        if previous is None:
            os.environ.pop("ML_DEVICE", None)
        else:
            os.environ["ML_DEVICE"] = previous
    run.refresh_from_db()
    if outcome.failed() or run.status != RunStatus.SUCCEEDED:
        detail = run.error or str(outcome.traceback)
        raise SystemExit(f"gpu-check: training on {device} ended {run.status}:\n{detail}")
    return {
        "requested": device,
        "device": run.device,
        "wall_s": round(wall, 2),
        "run_s": round(run.duration_seconds or 0.0, 2),
        "train_seconds": run.details.get("train_seconds"),
        "accuracy": round(run.metrics["accuracy"], 4),
        "run_id": run.pk,
    }


def write_docs(result: dict) -> None:
    runs = result["runs"]
    config = ", ".join(f"{k}={v}" for k, v in result["config"].items())
    body = f"""Measured {result["date"]} on {result["machine"]}.
Command: `make gpu-check` (`ML_DEVICE={runs[0]["requested"]} tests/benchmarks/gpu_check.py{" --compare-cpu" if len(runs) > 1 else ""}`).

Demo family trained through `mlops.train_run` (Celery `apply()`, in-process) with {config}, after one tiny
unreported warm-up run on the same device. Wall time includes data generation, storing the artifact and
registering the version.

{
        _report.table(
            ["device (as recorded on the run)", "wall s", "run s", "train s", "accuracy"],
            [[r["device"], r["wall_s"], r["run_s"], r["train_seconds"] if r["train_seconds"] is not None else "n/a", r["accuracy"]] for r in runs],
        )
    }
"""
    _report.write_section("gpu_check", body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-cpu", action="store_true", help="also train the same config on the CPU")
    parser.add_argument("--quick", action="store_true", help=f"small config {QUICK_CONFIG}; does not write docs")
    args = parser.parse_args()
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="downstream-gpu-check-") as tmp:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "platform_.settings.local",
                "DJANGO_DEBUG": "false",
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'gpu-check.sqlite3'}",
                "DOWNSTREAM_VAR_DIR": tmp,
                "CELERY_BROKER_URL": "filesystem://",
                "CELERY_RESULT_BACKEND": "",
                "REDIS_URL": "",
                "LOG_LEVEL": "WARNING",
            }
        )
        sys.path.insert(0, str(_report.ROOT))
        device = check_device()
        log(f"ML_DEVICE={os.environ.get('ML_DEVICE', '')!r} -> {device}; config {config}")

        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        # One tiny run first, not reported: the first training in a process pays one-off costs (CUDA context,
        # lazy imports, kernel selection) that would otherwise count against whichever device went first.
        train_once(WARMUP_CONFIG, os.environ.get("ML_DEVICE") or "auto")
        runs = [train_once(config, os.environ.get("ML_DEVICE") or "auto")]
        log(f"run: {runs[0]}")
        if args.compare_cpu:
            runs.append(train_once(config, "cpu"))
            log(f"cpu: {runs[1]}")
        from django.db import connections

        connections.close_all()

    result = {
        "benchmark": "gpu_check",
        "quick": args.quick,
        "config": config,
        "runs": runs,
        "date": _report.utc_now(),
        "machine": _report.machine(),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    if not args.quick:
        write_docs(result)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
