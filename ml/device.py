"""Which device runs ML work: ``cuda`` → ``mps`` → ``cpu``, or what ``ML_DEVICE`` says."""

from __future__ import annotations

import os
from dataclasses import dataclass

VALID_DEVICES = ("cuda", "mps", "cpu")


class DeviceUnavailable(RuntimeError):
    """``ML_DEVICE`` asked for a device this process cannot use."""


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "cuda" | "mps" | "cpu"
    name: str  # e.g. "cuda:0", "cpu"
    description: str  # human-readable, stored on each run

    def torch_device(self):  # noqa: ANN201 - torch is imported lazily
        import torch

        return torch.device(self.name)


def select_device(requested: str | None = None) -> DeviceInfo:
    """Pick the best available device, or the one requested (argument, else ``ML_DEVICE``).

    ``cuda:1`` style indices are accepted. Asking for a device that is not available raises
    :class:`DeviceUnavailable` instead of silently falling back: an operator who pinned a GPU wants to know.
    """
    import torch

    requested = (requested or os.environ.get("ML_DEVICE") or "").strip().lower() or None
    if requested in (None, "auto"):
        if torch.cuda.is_available():
            return _cuda(0)
        if _mps_available(torch):
            return DeviceInfo("mps", "mps", "mps (Apple GPU)")
        return _cpu(torch)
    kind, _, index = requested.partition(":")
    if kind not in VALID_DEVICES:
        raise DeviceUnavailable(f"ML_DEVICE={requested!r} is not one of {', '.join(VALID_DEVICES)} (or 'auto')")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable("ML_DEVICE asks for cuda but torch sees no CUDA device on this host")
        idx = int(index or 0)
        if idx >= torch.cuda.device_count():
            raise DeviceUnavailable(f"ML_DEVICE={requested!r} but only {torch.cuda.device_count()} CUDA device(s)")
        return _cuda(idx)
    if kind == "mps":
        if not _mps_available(torch):
            raise DeviceUnavailable("ML_DEVICE asks for mps but it is not available on this host")
        return DeviceInfo("mps", "mps", "mps (Apple GPU)")
    return _cpu(torch)


def _cuda(index: int) -> DeviceInfo:
    import torch

    name = torch.cuda.get_device_name(index)
    return DeviceInfo("cuda", f"cuda:{index}", f"cuda:{index} ({name}, torch {torch.__version__})")


def _cpu(torch) -> DeviceInfo:  # noqa: ANN001
    return DeviceInfo("cpu", "cpu", f"cpu ({torch.get_num_threads()} threads, torch {torch.__version__})")


def _mps_available(torch) -> bool:  # noqa: ANN001
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_KEEP_FREED_MEMORY: bool | None = None


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep the memory a process frees for its next allocations; True when it now does.

    By default glibc serves every block above its mmap threshold (at most 32 MB) with a fresh ``mmap`` and unmaps it
    when freed, and hands the free top of the heap back to the kernel. A CNN's activations on the CPU are such
    blocks, so every forward pass page-faults its buffers in again and the kernel zeroes them: measured on a 2-core
    AMD EPYC (EfficientNet-Lite0, batches of 16 at 256×256, blocks 4/10/14/15), 26 images/s with 1.7 M page faults
    and as much system as user CPU time per 8 batches, against 57 images/s and no page faults with this (1 thread:
    14 → 31). The cost: the process keeps its peak memory (freed blocks are reused, not returned), which suits a
    worker that runs the same models again and again. Once per process; does nothing off glibc (musl, macOS).
    """
    global _KEEP_FREED_MEMORY
    if _KEEP_FREED_MEMORY is None:
        _KEEP_FREED_MEMORY = False
        try:
            glibc = os.confstr("CS_GNU_LIBC_VERSION")
        except (ValueError, OSError):
            glibc = None
        if glibc:
            import ctypes

            libc = ctypes.CDLL(None)
            # No block served by mmap, and the heap's top handed back only when 2 GB of it are free (mallopt takes an int).
            _KEEP_FREED_MEMORY = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _KEEP_FREED_MEMORY


def inference_cpu_threads(requested: int = 0, *, backlog: bool = False) -> int:
    """Set torch's intra-op threads for batched inference in a worker and return the count.

    `requested` 0 means every core this process may run on but one (at least one), or every core with a `backlog`
    (the batch holds images that waited). The web server, the database and the webhook sender usually share the
    host, and a thread team that must wait for a descheduled member spins: measured on 2 cores
    (tests/benchmarks/inspection_line.py), at 10 images/s p95 272 ms with one thread against 468 ms with two. Once
    images pile up, throughput counts more than one image's latency (see docs/benchmarks.md, ``inspection_line``).
    """
    import torch

    cores = len(os.sched_getaffinity(0))
    threads = requested if requested > 0 else cores if backlog else max(1, cores - 1)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def training_cpu_threads(requested: int = 0) -> int:
    """Set torch's intra-op threads for a training run and return the count.

    Serving code in the same worker process (a traffic job's crop classifier, chat replies) pins torch to one
    thread, which is right for single small inputs but would leave training on one core. `requested` 0 means
    OMP_NUM_THREADS when set, else every core this process may run on.
    """
    import torch

    threads = requested or int(os.environ.get("OMP_NUM_THREADS") or 0) or len(os.sched_getaffinity(0))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
