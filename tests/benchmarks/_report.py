"""Shared by the benchmark scripts: describe the machine and write one section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"

_HEADER = """# Benchmarks

Numbers measured by the scripts under `tests/benchmarks/`. Each script rewrites its own `## <name>` section
and leaves the others alone, so a section always shows the latest run of that benchmark on the machine named in it.
"""


def log(message: str) -> None:
    """A progress line on stdout (the last stdout line of a benchmark is its JSON result)."""
    print(f"[bench] {message}", flush=True)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _gpus() -> str:
    # nvidia-smi rather than torch: describing the machine must not import CUDA into the benchmark process.
    if shutil.which("nvidia-smi") is None:
        return "no GPU"
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "no GPU (nvidia-smi failed)"
    names = [line.strip() for line in out.splitlines() if line.strip()]
    return ", ".join(names) if names else "no GPU"


def machine() -> str:
    """One line: cores, RAM, CPU model and GPUs, e.g. ``2 cores, 23.4 GiB RAM, AMD EPYC, no GPU``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ram = _ram_gib()
    return f"{cores} cores, {ram if ram is not None else '?'} GiB RAM, {_cpu_model()}, {_gpus()}"


def summarise_ms(samples_ns: Sequence[int]) -> dict[str, float | int]:
    """p50/p95/mean in milliseconds (inclusive quantiles) of latencies given in nanoseconds."""
    ms = [s / 1e6 for s in samples_ns]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50": round(cuts[49], 3), "p95": round(cuts[94], 3), "mean": round(statistics.fmean(ms), 3), "n": len(ms)}


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str, path: Path = DOCS) -> Path:
    """Replace the ``## name`` section of ``path`` with ``body`` (or append it); other sections are kept."""
    text = path.read_text() if path.exists() else _HEADER
    section = f"## {name}\n\n{body.strip()}\n"
    # A section runs from its heading to the next level-2 heading or the end of the file.
    pattern = re.compile(rf"^## {re.escape(name)}[ \t]*\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n")
    return path
