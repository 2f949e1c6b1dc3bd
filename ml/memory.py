"""Memory budgets for training: what a run is predicted to need at its peak, checked before it allocates.

A training task that runs out of memory is killed by the kernel (no traceback, the run left to the reaper).
Each model family instead predicts its peak from the sizes of its data and config (:class:`MemoryEstimate`),
and the platform compares it with the limit (``ML_MEMORY_LIMIT``, default 70 % of the host) before training,
failing the run with a message that names the largest parts and what to change.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

GIB = 1024**3
MIB = 1024**2
# What a training process holds before it reads any data: the interpreter, NumPy/SciPy/torch and the app.
BASE_PROCESS_BYTES = 800 * MIB
DEFAULT_LIMIT_FRACTION = 0.70
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": MIB, "g": GIB, "t": 1024 * GIB}


class MemoryBudgetExceeded(RuntimeError):
    """The run's predicted peak memory is above the limit: it was refused before it allocated."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Predicted peak memory of a training run, with the parts it adds up (bytes each) for the error message."""

    parts: dict[str, int] = field(default_factory=dict)
    hint: str = ""  # what to change when it does not fit

    @property
    def peak_bytes(self) -> int:
        return BASE_PROCESS_BYTES + sum(self.parts.values())

    def describe(self) -> str:
        largest = sorted(self.parts.items(), key=lambda kv: -kv[1])[:4]
        return ", ".join(f"{name} {format_bytes(size)}" for name, size in largest if size > 0)

    def check(self, limit_bytes: int, what: str = "training") -> None:
        """Raise :class:`MemoryBudgetExceeded` when the predicted peak is above ``limit_bytes``."""
        if self.peak_bytes > limit_bytes:
            message = (
                f"{what} needs about {format_bytes(self.peak_bytes)} of memory at its peak ({self.describe()}), "
                f"more than the limit of {format_bytes(limit_bytes)} (ML_MEMORY_LIMIT); the run was stopped before it allocated."
            )
            raise MemoryBudgetExceeded(f"{message} {self.hint}".strip())

    def as_dict(self) -> dict[str, object]:
        return {"peak_bytes": self.peak_bytes, "parts": dict(self.parts)}


def host_memory_bytes() -> int:
    """Physical memory of this host, or the container's cgroup limit when that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def parse_memory_limit(value: str | int | None, host_bytes: int | None = None) -> int:
    """``ML_MEMORY_LIMIT``: bytes (``12000000000``), a size (``12G``, ``512MiB``) or a share of the host (``70%``).

    Empty means 70 % of the host (or of the container's limit).
    """
    host = host_bytes if host_bytes is not None else host_memory_bytes()
    if value is None or (isinstance(value, str) and not value.strip()):
        return int(host * DEFAULT_LIMIT_FRACTION)
    if isinstance(value, int):
        amount, unit = float(value), "b"
    else:
        match = _SIZE.match(value)
        if not match:
            raise ValueError(f"ML_MEMORY_LIMIT must be bytes, a size like 12G or 512MiB, or a share like 70%; got {value!r}")
        amount, unit = float(match.group(1)), (match.group(2) or "b").lower()
    if unit == "%":
        if not 0 < amount <= 100:
            raise ValueError(f"ML_MEMORY_LIMIT as a share must be between 0 and 100 %, got {value!r}")
        return int(host * amount / 100)
    limit = int(amount * _UNITS[unit[0] if unit != "b" else "b"])
    if limit < 64 * MIB:
        raise ValueError(f"ML_MEMORY_LIMIT of {value!r} is below 64 MiB: no model trains in that")
    return limit


def format_bytes(size: float) -> str:
    for unit, scale in (("GB", GIB), ("MB", MIB), ("kB", 1024)):
        if abs(size) >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} B"
