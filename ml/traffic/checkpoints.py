"""Loading ultralytics YOLO checkpoints someone uploads without running anything they wrote.

An ultralytics ``.pt`` is a pickle of the whole model (its ``nn.Module`` objects), and by default ultralytics
unpickles it with ``weights_only=False`` and builds models from a yaml whose ``activation`` it passes to ``eval``.
Here (ultralytics 8.4, ``ultralytics/nn/tasks.py``):

* :func:`check_detector_file` is the static gate (no import, no unpickling): a ``torch.save`` zip whose pickle names
  only tensor types, ``torch.nn`` / ``ultralytics.nn`` module *classes* and the few data types official checkpoints
  hold — the same allow-list ultralytics' restricted loader (``_SafeLoad``) reconstructs;
* :func:`load_detector` loads with ultralytics' restricted loading (``ULTRALYTICS_SAFE_LOAD``, set by
  :func:`ml.offline.configure`): ``torch.load(weights_only=True)`` against that allow-list, and ``parse_model``
  without ``eval``; it refuses to load at all when that mode is off;
* :func:`check_model_dict` allows only a handful of ``activation`` values in a model yaml/dict, checked before a
  model is built from one and after a checkpoint is loaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ml.pickle_scan import UnsafeFileError, check_pickled_file, tensor_file_allowed

# The activations official YOLO yamls use or document (most set none: SiLU is the default).
ALLOWED_ACTIVATIONS = frozenset({"SiLU()", "ReLU()", "ReLU6()", "LeakyReLU(0.1)", "Hardswish()", "GELU()", "Mish()", "Identity()"})

# Where ultralytics' restricted loader takes nn.Module classes from (``_SafeLoad.loading``).
_MODULE_PACKAGES = ("torch.nn.modules", "ultralytics.nn.modules")
_MODULE_MODULES = frozenset({"ultralytics.nn.tasks", "ultralytics.nn.distill_model", "ultralytics.utils.loss", "ultralytics.utils.tal"})
# Data globals of official checkpoints and their legacy aliases (``_SafeLoad._build``); ``builtins.getattr`` is
# replaced there by a getattr limited to nn.Module attributes.
_DATA_GLOBALS = frozenset(
    {
        "numpy.dtype",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "ultralytics.utils.IterableSimpleNamespace",
        "ultralytics.yolo.utils.IterableSimpleNamespace",
        "builtins.getattr",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib._local.PosixPath",
        "pathlib._local.WindowsPath",
    }
)
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*")


def detector_file_allowed(module: str, name: str) -> bool:
    if tensor_file_allowed(module, name) or f"{module}.{name}" in _DATA_GLOBALS:
        return True
    # Classes only (a plain capitalised identifier): a dotted name would reach through the module to anything
    # it imported (``torch.nn.modules.module`` + ``torch.save``), a function is not a layer.
    if not _CLASS_NAME.fullmatch(name):
        return False
    return module in _MODULE_MODULES or any(module == p or module.startswith(p + ".") for p in _MODULE_PACKAGES)


def check_detector_file(path: Path) -> None:
    """The static check of a YOLO checkpoint: a ``.pt`` ``torch.save`` zip naming only model-layer classes."""
    if path.suffix.lower() != ".pt":
        raise UnsafeFileError(f"detector weights are an ultralytics .pt checkpoint, not a {path.suffix or 'suffix-less'} file")
    import zipfile

    # Scanned first, so that a refused payload is named whatever the file's format.
    check_pickled_file(path, detector_file_allowed, what="a YOLO checkpoint")
    if not zipfile.is_zipfile(path):
        raise UnsafeFileError("not a torch.save() zip checkpoint (ultralytics has saved zip checkpoints since 2020)")


def check_model_dict(model_dict: Any) -> None:
    """Refuse a model yaml/dict whose ``activation`` is not one of :data:`ALLOWED_ACTIVATIONS`."""
    if not isinstance(model_dict, dict):
        return
    activation = model_dict.get("activation")
    if activation is None:
        return
    spec = re.sub(r"\s+", "", str(activation))
    spec = spec.removeprefix("torch.").removeprefix("nn.")
    if spec not in ALLOWED_ACTIVATIONS:
        allowed = ", ".join(f"nn.{a}" for a in sorted(ALLOWED_ACTIVATIONS))
        raise UnsafeFileError(f"model activation {str(activation)[:80]!r} is not allowed (use one of {allowed})")


def yolo_class() -> Any:
    """ultralytics' ``YOLO``, once its restricted loading is known to be on."""
    import ultralytics.nn.tasks as tasks

    if not getattr(tasks, "SAFE_LOAD", False):
        raise RuntimeError(
            "ultralytics was imported before ml.offline.configure() set ULTRALYTICS_SAFE_LOAD=1: its weights_only loading "
            "is off, so no YOLO weights are loaded in this process"
        )
    from ultralytics import YOLO

    return YOLO


def load_detector(path: Path) -> Any:
    """A YOLO model from a checkpoint file: statically checked, loaded with weights only, activation checked."""
    check_detector_file(path)
    model = yolo_class()(str(path), task="detect")
    check_model_dict(getattr(model.model, "yaml", None))
    return model


def build_model(spec: str) -> Any:
    """A YOLO model to train: from a model yaml (activation checked before it is built) or a checkpoint."""
    if spec.lower().endswith((".yaml", ".yml")):
        from ultralytics.nn.tasks import yaml_model_load

        check_model_dict(yaml_model_load(spec))
        return yolo_class()(spec)
    return load_detector(Path(spec))
