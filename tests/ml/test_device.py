"""Device selection: ``ML_DEVICE`` (or the argument) pins a device, and asking for a missing one fails loudly."""

import os

import pytest
import torch

from ml.device import DeviceUnavailable, select_device

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks behaviour on a host without CUDA")


@pytest.fixture(autouse=True)
def _no_ml_device(monkeypatch):
    # The developer's or CI's own ML_DEVICE must not decide these tests.
    monkeypatch.delenv("ML_DEVICE", raising=False)


@needs_no_cuda
@pytest.mark.parametrize("env", [None, "", "auto", "  AUTO "])
def test_auto_picks_cpu_on_a_host_without_gpu(monkeypatch, env):
    if env is not None:
        monkeypatch.setenv("ML_DEVICE", env)
    device = select_device()
    assert (device.kind, device.name) == ("cpu", "cpu")
    assert device.description.startswith("cpu (")
    assert device.torch_device() == torch.device("cpu")


@pytest.mark.parametrize("env", ["cpu", "CPU", " cpu "])
def test_ml_device_cpu_is_honoured(monkeypatch, env):
    monkeypatch.setenv("ML_DEVICE", env)
    assert select_device().kind == "cpu"


@needs_no_cuda
@pytest.mark.parametrize("env", ["cuda", "cuda:0"])
def test_ml_device_cuda_without_gpu_fails_with_a_clear_message(monkeypatch, env):
    monkeypatch.setenv("ML_DEVICE", env)
    with pytest.raises(DeviceUnavailable, match="cuda.*no CUDA device"):
        select_device()


def test_unknown_device_names_the_valid_choices(monkeypatch):
    monkeypatch.setenv("ML_DEVICE", "bogus")
    with pytest.raises(DeviceUnavailable, match=r"'bogus' is not one of cuda, mps, cpu"):
        select_device()


def test_unknown_device_as_argument_is_rejected_too():
    with pytest.raises(DeviceUnavailable, match="bogus"):
        select_device("bogus")


@pytest.mark.parametrize("env", ["cuda", "bogus"])
def test_explicit_argument_overrides_the_environment(monkeypatch, env):
    monkeypatch.setenv("ML_DEVICE", env)
    assert select_device("cpu").kind == "cpu"


@needs_no_cuda
def test_explicit_auto_argument_ignores_a_pinned_environment(monkeypatch):
    monkeypatch.setenv("ML_DEVICE", "cuda")
    assert select_device("auto").kind == "cpu"


def test_training_takes_back_the_cores_a_serving_pin_left(monkeypatch) -> None:  # noqa: ANN001
    import torch

    from ml.device import training_cpu_threads

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # what a chat reply or a traffic crop classifier leaves in a worker process
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert training_cpu_threads() == len(os.sched_getaffinity(0)) == torch.get_num_threads()
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert training_cpu_threads() == 3 == torch.get_num_threads()
        assert training_cpu_threads(2) == 2 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_inspection_inference_leaves_a_core_to_the_rest_of_the_host() -> None:
    import torch

    from ml.device import inference_cpu_threads

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)  # what a training run left in the worker
        assert inference_cpu_threads() == max(1, len(os.sched_getaffinity(0)) - 1) == torch.get_num_threads()
        assert inference_cpu_threads(3) == 3 == torch.get_num_threads()
        assert inference_cpu_threads(-2) == max(1, len(os.sched_getaffinity(0)) - 1)  # a negative setting means the default
        # A batch of images that waited gets every core; a setting still wins.
        assert inference_cpu_threads(backlog=True) == len(os.sched_getaffinity(0)) == torch.get_num_threads()
        assert inference_cpu_threads(3, backlog=True) == 3
    finally:
        torch.set_num_threads(before)


_FAULTS_SCRIPT = """
import ctypes, resource, sys
from ml.device import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory() and keep_freed_memory()  # once per process, the second call answers the same
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 40 << 20  # above glibc's largest mmap threshold (32 MB), like a batch's largest activations

def touch_and_free():
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)

touch_and_free()  # the first block faults its pages in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    touch_and_free()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc only")
def test_keep_freed_memory_stops_page_faults_on_repeated_large_allocations():
    import subprocess
    import sys
    from pathlib import Path

    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT, mode], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
        return int(out.stdout.split()[-1])

    # By default glibc maps and unmaps each block, so every pass faults its pages in again: 10,240 pages of 4 kB
    # (20 of 2 MB where the kernel backs every mapping with huge pages). Kept, the second block reuses the first.
    assert faults("default") >= 8 * 20
    assert faults("keep") < 50


def test_celery_workers_keep_freed_memory_unless_turned_off(settings, monkeypatch):
    import ml.device
    from platform_ import celery

    calls = []
    monkeypatch.setattr(ml.device, "keep_freed_memory", lambda: calls.append(1) or True)
    settings.ML_KEEP_FREED_MEMORY = True
    celery._worker_memory()
    settings.ML_KEEP_FREED_MEMORY = False
    celery._worker_memory()
    assert calls == [1]
