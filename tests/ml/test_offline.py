"""The ML stack works with the network cut off once ``ml.offline.configure`` has run.

The real check runs ``offline_probe.py`` in a fresh interpreter: environment flags are read at import time,
so only a process that has not imported transformers or ultralytics yet shows what production sees.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml import offline

PROBE = Path(__file__).with_name("offline_probe.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
# Variables configure() only sets when absent; drop them so the subprocess uses its temporary home.
_HOME_VARS = ("YOLO_CONFIG_DIR", "HF_HOME", "TORCH_HOME", "MPLCONFIGDIR")


def _probe_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _HOME_VARS and k not in offline.OFFLINE_ENV}
    env["HOME"] = str(home)  # nothing may fall back to the developer's own caches
    env["XDG_CACHE_HOME"] = str(home / "cache")
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["ML_DEVICE"] = "cpu"
    env["CUDA_VISIBLE_DEVICES"] = ""
    # A user who switched offline mode off must still end up offline: configure() forces these.
    env["HF_HUB_OFFLINE"] = "0"
    env["YOLO_OFFLINE"] = "0"
    return env


def _run_probe(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROBE), str(home), *args],
        env=_probe_env(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _report(proc: subprocess.CompletedProcess) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, f"probe failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return json.loads(lines[-1])


def test_the_socket_guard_catches_network_use(tmp_path):
    # Without this the offline test could pass while blocking nothing.
    report = _report(_run_probe(tmp_path, "--self-check"))
    assert any("example.com" in attempt for attempt in report["blocked"]), report


def test_whole_ml_stack_runs_without_network(tmp_path):
    report = _report(_run_probe(tmp_path))
    assert report["steps"] == ["minilm", "yolo", "implicit", "efficientnet", "demo"]
    assert report["blocked"] == [], "network was attempted:\n" + "\n".join(report["blocked"])
    assert report["env"]["HF_HUB_OFFLINE"] == "1" and report["env"]["YOLO_OFFLINE"] == "1"
    assert report["env"]["YOLO_CONFIG_DIR"] == str(tmp_path / "ultralytics")


@pytest.fixture
def clean_env(monkeypatch):
    # configure() writes os.environ; monkeypatch restores every variable touched here after the test.
    for key in (*offline.OFFLINE_ENV, *_HOME_VARS):
        monkeypatch.delenv(key, raising=False)


def test_configure_sets_flags_and_puts_the_fonts_ultralytics_wants(tmp_path, clean_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    yolo_dir = offline.configure(tmp_path)
    assert yolo_dir == tmp_path / "ultralytics"
    assert os.environ["YOLO_CONFIG_DIR"] == str(yolo_dir)
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # forced, even over the user's "0"
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert os.environ["HF_HOME"] == str(tmp_path / "huggingface")
    fonts = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        font = fonts / name
        assert font.is_file() and font.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType file


def test_configure_respects_a_chosen_yolo_dir_and_is_idempotent(tmp_path, clean_env, monkeypatch):
    chosen = tmp_path / "chosen"
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(chosen))
    assert offline.configure(tmp_path / "home") == chosen
    font = chosen / "Ultralytics" / "Arial.ttf"
    font.write_bytes(b"kept")  # a font already there is not replaced
    assert offline.configure(tmp_path / "home") == chosen
    assert font.read_bytes() == b"kept"
    assert not (tmp_path / "home" / "ultralytics").exists()
