"""The ``traffic.detector`` model family: an ultralytics YOLO detector trained on labelled frames or uploaded.

Training reads a YOLO-format dataset (``data.yaml`` with ``train``/``val`` image folders and label files, classes
named as :data:`ml.traffic.VEHICLE_CLASSES` or COCO) and reports mAP50 on its held-out ``val`` split. Weights
trained elsewhere (e.g. a COCO ``yolo11n.pt``) are registered through the model registry's import, which loads
them with :class:`YoloPredictor` — weights only, never unpickling code (see :mod:`ml.traffic.checkpoints`).
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from ml.core import ConfigError, Predictor, ProgressCallback, TrainConfig, TrainedModel
from ml.device import DeviceInfo
from ml.memory import MIB, MemoryEstimate
from ml.pickle_scan import UnsafeFileError
from ml.traffic.checkpoints import build_model, check_detector_file, load_detector
from ml.traffic.detection import Detection, YoloDetector
from ml.traffic.geometry import LineSpec
from ml.traffic.selftrain import MASK_MODES, Footage, HarvestConfig, HeldOut, compare_counting, harvest

# A camera's own footage on a CPU worker trains in minutes: YOLO11n from scratch, batches of FOOTAGE_BATCH with one
# optimiser step each, about FOOTAGE_STEPS steps in all (epochs within FOOTAGE_EPOCHS), at a quarter of the frames'
# longer side within FOOTAGE_IMGSZ. From scratch, the number of steps decides whether it learns at all: on the highway
# clip, while choosing these defaults, 126 steps (batch 16) reached mAP50 0.0 and 240 (batch 8) 0.955. With them a
# clip trains in about 5 minutes on 2 shared cores (docs/benchmarks.md, traffic_selftrain).
FOOTAGE_BATCH = 8
FOOTAGE_STEPS = 300
FOOTAGE_EPOCHS = (10, 100)
FOOTAGE_IMGSZ = (320, 640)


@dataclass
class YoloTrainConfig(TrainConfig):
    dataset: str = ""  # path to a YOLO data.yaml of labelled frames
    # …or video files of one camera: the motion pipeline labels them (ml.traffic.selftrain) and the detector learns
    # the camera's own view. Each is harvested up to footage_end_fraction of its frames (the rest can be held out).
    footage: list[str] = field(default_factory=list)
    footage_end_fraction: float = 1.0
    harvest_mask: str = "gray"  # what moving objects the motion pipeline is unsure of become: gray | background | drop
    harvest_max_frames: int = 600
    model: str = "yolo11n.yaml"  # architecture (built offline from its yaml) or a .pt file to fine-tune
    epochs: int | None = None  # default: 30 for a dataset; for footage fitted to the harvest (footage_epochs)
    imgsz: int | None = None  # default: 640 for a dataset; for footage fitted to the frames (footage_imgsz)
    batch: int | None = None  # default: 16 for a dataset, FOOTAGE_BATCH for footage
    train_minutes: float = 0.0  # > 0: stop training after this long (ultralytics' time limit), whatever the epochs

    def validate(self) -> None:
        super().validate()
        if (self.epochs is not None and self.epochs < 1) or (self.imgsz is not None and self.imgsz < 32) or (self.batch is not None and self.batch < 1):
            raise ConfigError("epochs, batch must be ≥ 1 and imgsz ≥ 32")
        if self.dataset and self.footage:
            raise ConfigError("give either dataset (labelled frames) or footage (videos to harvest), not both")
        if not 0.0 < self.footage_end_fraction <= 1.0:
            raise ConfigError("footage_end_fraction must be in (0, 1]")
        if self.harvest_mask not in MASK_MODES:
            raise ConfigError(f"harvest_mask must be one of {', '.join(MASK_MODES)}")
        if self.harvest_max_frames < 2 or self.train_minutes < 0:
            raise ConfigError("harvest_max_frames must be ≥ 2 and train_minutes ≥ 0")


@dataclass
class CountingCheck:
    """Footage to count on after training, with the self-trained detector and with the motion pipeline."""

    lines: list[LineSpec]
    held_out: list[HeldOut]


@dataclass
class YoloDataset:
    data_yaml: Path
    images: dict[str, int]
    imgsz: int | None = None  # fitted to the frames when the config leaves it open
    epochs: int | None = None
    batch: int | None = None
    workdir: Path | None = None  # a harvested dataset's folder: removed when training ends
    from_footage: bool = False  # harvested from a camera's videos (a few hundred frames: small-data training settings)
    counting: CountingCheck | None = None  # set by the caller that knows the camera's lines


def footage_imgsz(frame_size: tuple[int, int]) -> int:
    """A quarter of the frames' longer side in multiples of 32, within :data:`FOOTAGE_IMGSZ`: 1280x720 and smaller
    train at 320 (the vehicles of a road camera stay 15 px and more), 1920x1080 at 480, 4K at 640."""
    low, high = FOOTAGE_IMGSZ
    return int(min(high, max(low, 32 * round(max(frame_size) / 4 / 32))))


def footage_epochs(train_images: int, batch: int = FOOTAGE_BATCH) -> int:
    """About :data:`FOOTAGE_STEPS` optimiser steps (one a batch), within :data:`FOOTAGE_EPOCHS`."""
    low, high = FOOTAGE_EPOCHS
    return int(min(high, max(low, math.ceil(FOOTAGE_STEPS / max(1, math.ceil(train_images / batch))))))


def prepare_dataset(config: YoloTrainConfig, *, progress: Callable[[float, str], None] | None = None) -> tuple[YoloDataset, dict[str, Any]]:
    if config.footage:
        return _harvest_footage(config, progress)
    return _read_dataset(config)


def _harvest_footage(config: YoloTrainConfig, progress: Callable[[float, str], None] | None) -> tuple[YoloDataset, dict[str, Any]]:
    from ml.traffic.video import VideoError, probe_video

    footage = []
    for path in config.footage:
        try:
            info = probe_video(path)
        except VideoError as exc:
            raise ConfigError(f"footage {Path(path).name}: {exc}") from None
        end = round((info.frame_count or 0) * config.footage_end_fraction) if config.footage_end_fraction < 1.0 else None
        footage.append(Footage(path, end))
    workdir = Path(tempfile.mkdtemp(prefix="traffic-harvest-"))
    try:
        result = harvest(footage, workdir, HarvestConfig(mask=config.harvest_mask, max_frames=config.harvest_max_frames), progress=progress)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    imgsz = config.imgsz or footage_imgsz(result.frame_size)
    batch = config.batch or FOOTAGE_BATCH
    epochs = config.epochs or footage_epochs(result.images["train"], batch)
    dataset = YoloDataset(result.data_yaml, result.images, imgsz=imgsz, epochs=epochs, batch=batch, workdir=workdir, from_footage=True)
    snapshot = {
        "source": "footage",
        "footage": [Path(p).name for p in config.footage],
        "footage_end_fraction": config.footage_end_fraction,
        "imgsz": imgsz,
        "epochs": dataset.epochs,
        "batch": batch,
        **result.snapshot(),
    }
    return dataset, snapshot


def _read_dataset(config: YoloTrainConfig) -> tuple[YoloDataset, dict[str, Any]]:
    import yaml

    if not config.dataset:
        raise ConfigError(
            "set config.dataset to a YOLO data.yaml of labelled frames or config.footage to a camera's videos (or upload trained weights instead)"
        )
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
    imgsz, batch = _imgsz(config, dataset), _batch(config, dataset)
    parts = {
        # Weights, gradients, the optimiser's two moments and the EMA copy ultralytics keeps.
        "model and optimiser": params * 4 * 5,
        # Saved activations grow with the image area; a quarter more for the gradients flowing back through them.
        "training batch": int(batch * activations_640 * (imgsz / 640) ** 2 * 1.25),
        # Mosaic augmentation keeps up to min(images, 8 x batch, 1000) recent images, resized to imgsz (3 bytes a pixel).
        "mosaic buffer": min(train_images, batch * 8, 1000) * imgsz * imgsz * 3,
        "ultralytics": 300 * MIB,
    }
    return MemoryEstimate(parts, hint="Lower batch or imgsz, use a smaller model scale, or raise ML_MEMORY_LIMIT on a larger worker.")


def _imgsz(config: YoloTrainConfig, dataset: YoloDataset) -> int:
    return config.imgsz or dataset.imgsz or 640


def _batch(config: YoloTrainConfig, dataset: YoloDataset) -> int:
    return config.batch or dataset.batch or 16


def train(dataset: YoloDataset, config: YoloTrainConfig, progress: ProgressCallback, device: DeviceInfo) -> TrainedModel:
    """Train on the dataset's ``train`` split and report mAP50 on its ``val`` split; with ``dataset.counting`` also
    count its held-out footage with the new detector and with the motion pipeline (metrics ``heldout_*`` and,
    where true counts are known, ``reviewed_*``). A harvested dataset's folder is removed at the end."""
    try:
        return _train(dataset, config, progress, device)
    finally:
        if dataset.workdir is not None:
            shutil.rmtree(dataset.workdir, ignore_errors=True)


def _train(dataset: YoloDataset, config: YoloTrainConfig, progress: ProgressCallback, device: DeviceInfo) -> TrainedModel:
    workdir = Path(tempfile.mkdtemp(prefix="traffic-yolo-"))
    try:
        model = build_model(config.model)
    except UnsafeFileError as exc:
        raise ConfigError(f"model {config.model}: {exc}") from None
    epochs = config.epochs or dataset.epochs or 30
    imgsz, batch = _imgsz(config, dataset), _batch(config, dataset)
    # Counting the held-out footage afterwards takes the last part of the progress bar.
    share = 85.0 if dataset.counting else 100.0

    def on_epoch_end(trainer: Any) -> None:
        # Ultralytics fires this once more after its final validation: clamp to the last epoch. With a time limit
        # it re-plans its epochs after the first one: trainer.epochs is the plan.
        planned = int(getattr(trainer, "epochs", epochs) or epochs)
        epoch = min(trainer.epoch + 1, planned)
        # trainer.metrics holds the validation metrics; label_loss_items names the training losses.
        values = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, int | float)}
        try:
            values.update({k: float(v) for k, v in trainer.label_loss_items(trainer.tloss, prefix="train").items()})
        except Exception:  # noqa: BLE001, S110 - loss names differ between ultralytics versions; progress still reports
            pass
        progress(share * epoch / planned, f"epoch {epoch}/{planned}", values)

    model.add_callback("on_fit_epoch_end", on_epoch_end)
    gpu = device.kind == "cuda"
    started = time.perf_counter()
    model.train(
        data=str(dataset.data_yaml),
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device=device.name.split(":")[-1] if gpu else "cpu",
        workers=2 if gpu else 0,
        amp=gpu,
        plots=False,
        project=str(workdir),
        name="run",
        seed=config.seed,
        deterministic=True,
        verbose=False,
        # A camera's few hundred frames are a handful of batches an epoch: one optimiser step per batch (ultralytics
        # accumulates gradients up to 64 images), or a short run takes too few steps to learn anything.
        nbs=batch if dataset.from_footage else 64,
        **({"time": config.train_minutes / 60} if config.train_minutes > 0 else {}),
    )
    train_seconds = time.perf_counter() - started
    results = model.val(data=str(dataset.data_yaml), split="val", imgsz=imgsz, batch=batch, plots=False, verbose=False, device="cpu" if not gpu else None)
    metrics = {"mAP50": float(results.box.map50), "mAP50_95": float(results.box.map)}
    best = workdir / "run" / "weights" / "best.pt"
    weights = best if best.exists() else workdir / "run" / "weights" / "last.pt"
    details: dict[str, Any] = {"images": dataset.images, "imgsz": imgsz, "epochs": epochs, "batch": batch, "train_seconds": round(train_seconds, 1)}
    if dataset.counting is not None and dataset.counting.held_out:
        runtime = "cpu" if not gpu else device.name

        def counted(fraction: float, stage: str) -> None:
            progress(share + (97.0 - share) * fraction, stage)

        comparison = compare_counting(
            lambda: YoloDetector(weights, device=runtime, imgsz=imgsz), dataset.counting.held_out, dataset.counting.lines, progress=counted
        )
        metrics.update(comparison["metrics"])
        details["counting"] = comparison["items"]

    # Kept in memory (a few MB for the n scale) so that ultralytics' run folder does not outlive the training.
    artifact = weights.read_bytes()
    shutil.rmtree(workdir, ignore_errors=True)

    def save(target: Path) -> None:
        target.write_bytes(artifact)

    return TrainedModel(model=model, metrics=metrics, save=save, artifact_name="detector.pt", details=details)


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
        # Predict at the size the weights were trained at (a camera's self-trained detector: 320 px, COCO weights: 640).
        imgsz = int((getattr(model, "overrides", None) or {}).get("imgsz") or 640)
        return cls(YoloDetector(artifact, model=model, device=device.name if device else "cpu", imgsz=imgsz))

    @classmethod
    def check_file(cls, artifact: Path) -> None:
        check_detector_file(artifact)

    def predict_batch(self, items: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [self.detector.detect(frame) for frame in items]
