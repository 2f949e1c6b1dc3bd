"""The ``traffic.detector`` model family: an ultralytics YOLO detector trained on labelled frames or uploaded.

Training reads a YOLO-format dataset (``data.yaml`` with ``train``/``val`` image folders and label files, classes
named as :data:`ml.traffic.VEHICLE_CLASSES` or COCO) and reports mAP50 on its held-out ``val`` split. Weights
trained elsewhere (e.g. a COCO ``yolo11n.pt``) are registered through the model registry's import, which loads
them with :class:`YoloPredictor` — weights only, never unpickling code (see :mod:`ml.traffic.checkpoints`).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from ml.core import ConfigError, Predictor, ProgressCallback, TrainConfig, TrainedModel
from ml.device import DeviceInfo
from ml.memory import MIB, MemoryEstimate
from ml.pickle_scan import UnsafeFileError
from ml.traffic.checkpoints import build_model, check_detector_file, load_detector
from ml.traffic.detection import Detection, YoloDetector


@dataclass
class YoloTrainConfig(TrainConfig):
    dataset: str = ""  # path to a YOLO data.yaml of labelled frames
    model: str = "yolo11n.yaml"  # architecture (built offline from its yaml) or a .pt file to fine-tune
    epochs: int = 30
    imgsz: int = 640
    batch: int = 16

    def validate(self) -> None:
        super().validate()
        if self.epochs < 1 or self.imgsz < 32 or self.batch < 1:
            raise ConfigError("epochs, batch must be ≥ 1 and imgsz ≥ 32")


@dataclass
class YoloDataset:
    data_yaml: Path
    images: dict[str, int]


def prepare_dataset(config: YoloTrainConfig) -> tuple[YoloDataset, dict[str, Any]]:
    import yaml

    if not config.dataset:
        raise ConfigError("set config.dataset to a YOLO data.yaml of labelled frames (or upload trained weights instead)")
    path = Path(config.dataset)
    if not path.is_file():
        raise ConfigError(f"dataset {path} does not exist")
    spec = yaml.safe_load(path.read_text()) or {}
    root = Path(spec.get("path") or path.parent)
    if not root.is_absolute():
        root = path.parent / root
    counts = {}
    for split in ("train", "val"):
        if split not in spec:
            raise ConfigError(f"{path.name} has no {split!r} split: the held-out 'val' split gives the primary metric")
    for split in ("train", "val"):
        folder = root / spec[split]
        counts[split] = sum(1 for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
        if counts[split] == 0:
            raise ConfigError(f"no images under {folder}")
    return YoloDataset(path, counts), {"source": str(path), "images": counts, "classes": spec.get("names")}


# Per model scale of YOLO11 (n, s, m, l, x): parameters, and the activations autograd keeps for one 640x640 image in
# float32 (measured here by summing the tensors saved for backward, ultralytics 8.3, train mode).
YOLO_SCALES = {
    "n": (2_624_080, 223 * MIB),
    "s": (9_458_752, 436 * MIB),
    "m": (20_114_688, 926 * MIB),
    "l": (25_372_160, 1189 * MIB),
    "x": (56_966_176, 1853 * MIB),
}
_SCALE_IN_NAME = re.compile(r"yolo[a-z]*\d+([nsmlx])", re.IGNORECASE)


def model_scale(model: str) -> str:
    """The YOLO scale letter a model yaml or weights file is named with (``yolo11s.pt``: s); else the scale whose size
    is nearest a weights file's (ultralytics stores float16: 2 bytes a parameter); ``m`` when neither tells."""
    match = _SCALE_IN_NAME.search(Path(model).name)
    if match:
        return match.group(1).lower()
    try:
        params = Path(model).stat().st_size // 2
    except OSError:
        return "m"
    return min(YOLO_SCALES, key=lambda k: abs(YOLO_SCALES[k][0] - params))


def memory_estimate(config: YoloTrainConfig, dataset: YoloDataset) -> MemoryEstimate:
    """Predicted peak memory of :func:`train` on the CPU (with ``amp`` on a GPU the activations take half, in device memory)."""
    params, activations_640 = YOLO_SCALES[model_scale(config.model)]
    train_images = dataset.images.get("train", 0)
    parts = {
        # Weights, gradients, the optimiser's two moments and the EMA copy ultralytics keeps.
        "model and optimiser": params * 4 * 5,
        # Saved activations grow with the image area; a quarter more for the gradients flowing back through them.
        "training batch": int(config.batch * activations_640 * (config.imgsz / 640) ** 2 * 1.25),
        # Mosaic augmentation keeps up to min(images, 8 x batch, 1000) recent images, resized to imgsz (3 bytes a pixel).
        "mosaic buffer": min(train_images, config.batch * 8, 1000) * config.imgsz * config.imgsz * 3,
        "ultralytics": 300 * MIB,
    }
    return MemoryEstimate(parts, hint="Lower batch or imgsz, use a smaller model scale, or raise ML_MEMORY_LIMIT on a larger worker.")


def train(dataset: YoloDataset, config: YoloTrainConfig, progress: ProgressCallback, device: DeviceInfo) -> TrainedModel:
    workdir = Path(tempfile.mkdtemp(prefix="traffic-yolo-"))
    try:
        model = build_model(config.model)
    except UnsafeFileError as exc:
        raise ConfigError(f"model {config.model}: {exc}") from None

    def on_epoch_end(trainer: Any) -> None:
        # Ultralytics fires this once more after its final validation: clamp to the last epoch.
        epoch = min(trainer.epoch + 1, config.epochs)
        # trainer.metrics holds the validation metrics; label_loss_items names the training losses.
        values = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, int | float)}
        try:
            values.update({k: float(v) for k, v in trainer.label_loss_items(trainer.tloss, prefix="train").items()})
        except Exception:  # noqa: BLE001, S110 - loss names differ between ultralytics versions; progress still reports
            pass
        progress(100.0 * epoch / config.epochs, f"epoch {epoch}/{config.epochs}", values)

    model.add_callback("on_fit_epoch_end", on_epoch_end)
    gpu = device.kind == "cuda"
    model.train(
        data=str(dataset.data_yaml),
        epochs=config.epochs,
        imgsz=config.imgsz,
        batch=config.batch,
        device=device.name.split(":")[-1] if gpu else "cpu",
        workers=2 if gpu else 0,
        amp=gpu,
        plots=False,
        project=str(workdir),
        name="run",
        seed=config.seed,
        deterministic=True,
        verbose=False,
    )
    results = model.val(
        data=str(dataset.data_yaml), split="val", imgsz=config.imgsz, batch=config.batch, plots=False, verbose=False, device="cpu" if not gpu else None
    )
    metrics = {"mAP50": float(results.box.map50), "mAP50_95": float(results.box.map)}
    best = workdir / "run" / "weights" / "best.pt"
    weights = best if best.exists() else workdir / "run" / "weights" / "last.pt"

    def save(target: Path) -> None:
        shutil.copyfile(weights, target)

    return TrainedModel(model=model, metrics=metrics, save=save, artifact_name="detector.pt", details={"images": dataset.images})


class YoloPredictor(Predictor):
    """Loaded weights as a :class:`YoloDetector`; ``predict_batch`` takes BGR frames."""

    def __init__(self, detector: YoloDetector) -> None:
        self.detector = detector

    @classmethod
    def load(cls, artifact: Path, device: DeviceInfo | None = None) -> Self:
        try:
            model = load_detector(artifact)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same operator error
            raise ValueError(f"not ultralytics YOLO weights: {exc}") from exc
        if getattr(model, "task", "detect") != "detect":
            raise ValueError(f"these weights are a YOLO {model.task} model; a detect model is needed")
        return cls(YoloDetector(artifact, model=model, device=device.name if device else "cpu"))

    @classmethod
    def check_file(cls, artifact: Path) -> None:
        check_detector_file(artifact)

    def predict_batch(self, items: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [self.detector.detect(frame) for frame in items]
