"""Supervised defect typing: a multinomial logistic-regression head on pooled backbone features (EfficientNet-Lite0 by default).

An ultralytics YOLO classifier built from yaml was not measured against it: no pretrained YOLO classification
weights are available offline, and a from-scratch network needs far more labelled parts than a new line has,
while the frozen ImageNet backbone with a linear head reuses the anomaly model's features (accuracy in
docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from ml.core import ConfigError, Predictor, ProgressCallback, TrainConfig, TrainedModel, load_torch_state, set_seed
from ml.device import DeviceInfo, select_device
from ml.memory import MemoryEstimate
from ml.metrics import accuracy, confusion_matrix, macro_f1
from ml.vision.backbone import (
    BACKBONE_PARAMETERS,
    BACKBONES,
    DEFAULT_BACKBONE,
    LIBRARIES_BYTES,
    POOLINGS,
    backbone_digest,
    check_weights,
    encoded_bytes,
    feature_groups,
    fitted_input,
    image_pixels,
    input_spec,
    load_backbone,
    pass_bytes,
    pooled_embedding,
    to_gray_array,
    validate_backbone,
)

FORMAT = "downstream.vision.classifier/1"


@dataclass
class ClassifierConfig(TrainConfig):
    backbone: str = DEFAULT_BACKBONE  # as AnomalyConfig.backbone; the same backbone and input let both share a pass
    backbone_weights: str = ""
    image_height: int = 256
    image_width: int = 256
    blocks: list[int] = field(default_factory=lambda: [4, 10, 14, 15])
    normalize_intensity: bool = True  # stretch each image to a common mean and contrast before the backbone
    keep_aspect: bool = False  # keep each part's scale and aspect ratio (fit inside image_height×image_width)
    fit_aspect: bool = True  # as AnomalyConfig.fit_aspect: the same choice for the same parts keeps the shared pass
    input_padding: int = 0  # reflect-pad the input, crop the maps back (as the anomaly model; lets both share a pass)
    # Per-map pooled statistics. Mean + standard deviation (how textured the map is) measured 0.953 accuracy on
    # magnetic tiles; mean + max 0.948; all three 0.948 (docs/benchmarks.md).
    pooling: list[str] = field(default_factory=lambda: ["mean", "std"])
    regularisation: float = 1.0  # inverse L2 strength of the logistic regression (scikit-learn's C)
    flip_augment: bool = True  # add horizontally and vertically flipped copies of every training image
    batch_size: int = 16

    def validate(self) -> None:
        super().validate()
        if not (32 <= self.image_height <= 2048 and 32 <= self.image_width <= 2048):
            raise ConfigError("image_height and image_width must be between 32 and 2048")
        validate_backbone(self.backbone, self.backbone_weights, {"blocks": self.blocks})
        if self.input_padding < 0 or self.input_padding % 32 or self.input_padding > 256:
            raise ConfigError("input_padding must be a multiple of 32 between 0 and 256")
        if not self.pooling or any(p not in POOLINGS for p in self.pooling) or len(set(self.pooling)) != len(self.pooling):
            raise ConfigError(f"pooling must be a non-empty list of distinct entries from {', '.join(POOLINGS)}")
        if not 0 < self.regularisation <= 1e6:
            raise ConfigError("regularisation must be in (0, 1e6]")
        if not 1 <= self.batch_size <= 1024:
            raise ConfigError("batch_size must be between 1 and 1024")


@dataclass
class ClassifierDataset:
    classes: list[str]
    train_items: list[Any]
    train_labels: list[int]
    validation_items: list[Any] = field(default_factory=list)
    validation_labels: list[int] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        counts = {c: int(sum(1 for y in self.train_labels if y == i)) for i, c in enumerate(self.classes)}
        return {"classes": self.classes, "train": len(self.train_items), "validation": len(self.validation_items), "train_per_class": counts}


def pool_groups(groups: list[tuple[list[int], dict[int, Any]]], blocks: Sequence[int], n: int, pooling: Sequence[str] = ("mean", "max")) -> np.ndarray:
    """Pooled embeddings (n, d) in image order from backbone groups (which may tap more blocks than ``blocks``)."""
    rows: list[np.ndarray | None] = [None] * n
    for idx, maps in groups:
        pooled = pooled_embedding([maps[b] for b in sorted(blocks)], pooling)
        for j, i in enumerate(idx):
            rows[i] = pooled[j]
    return np.stack(rows) if n else np.zeros((0, 0), np.float32)


def embed(items: Sequence[Any], config: ClassifierConfig, device: str, flips: bool = False) -> np.ndarray:
    """Pooled backbone features, (n, d), of anything :func:`to_gray_array` reads, decoded one batch at a time; with
    ``flips`` also of the two flipped copies, (3n, d): all originals, then all left-right, then all upside-down."""
    backbone = load_backbone(device, config.backbone, config.backbone_weights)
    blocks = sorted(config.blocks)
    variants = [lambda a: a]
    if flips:
        variants += [lambda a: a[:, ::-1], lambda a: a[::-1, :]]
    out: list[list[np.ndarray]] = [[] for _ in variants]
    for start in range(0, len(items), config.batch_size):
        arrays = [to_gray_array(i) for i in items[start : start + config.batch_size]]
        for rows, variant in zip(out, variants, strict=True):
            chunk = [np.ascontiguousarray(variant(a)) for a in arrays]
            groups = feature_groups(backbone, chunk, blocks=blocks, device=device, **input_spec(config))
            rows.append(pool_groups(groups, blocks, len(chunk), config.pooling))
    return np.concatenate([row for rows in out for row in rows]) if len(items) else np.zeros((0, 0), np.float32)


class LinearHead:
    def __init__(self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.mean, self.scale, self.coef, self.intercept = mean, scale, coef, intercept

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, n_classes: int, config: ClassifierConfig) -> Self:
        from sklearn.linear_model import LogisticRegression

        mean = x.mean(axis=0)
        scale = x.std(axis=0) + 1e-6
        clf = LogisticRegression(C=config.regularisation, max_iter=2000, random_state=config.seed)
        clf.fit((x - mean) / scale, y)
        # Expand to every class index, so a class absent from training still has a (never chosen) row.
        coef = np.full((n_classes, x.shape[1]), 0.0)
        intercept = np.full(n_classes, -1e9)
        if len(clf.classes_) == 2:
            coef[clf.classes_[1]] = clf.coef_[0]
            intercept[clf.classes_[1]] = clf.intercept_[0]
            intercept[clf.classes_[0]] = 0.0
        else:
            coef[clf.classes_] = clf.coef_
            intercept[clf.classes_] = clf.intercept_
        return cls(mean, scale, coef, intercept)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        logits = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


def memory_estimate(config: ClassifierConfig, dataset: ClassifierDataset) -> MemoryEstimate:
    """Predicted peak memory of :func:`train` (on the CPU), from the images' sizes (read from their headers) and the config."""
    taps = BACKBONES[config.backbone].taps
    width = len(config.pooling) * sum(taps[b][0] for b in config.blocks)
    rows = len(dataset.train_items) * (3 if config.flip_augment else 1)
    items = [*dataset.train_items, *dataset.validation_items]
    pixels = [image_pixels(item) for item in items]
    parts = {
        "encoded images": encoded_bytes(items),
        # One batch decoded at a time (grey, 1 byte a pixel) with its two flipped copies; the largest image once more in
        # colour while it is converted.
        "decoded images": config.batch_size * 3 * max(pixels, default=0) + 4 * max(pixels, default=0),
        # Pooled features (float32), their standardised float64 copy inside scikit-learn, and the validation rows.
        "pooled features": (rows * (4 + 4 + 8) + len(dataset.validation_items) * 4) * width,
        # L-BFGS keeps per-row probabilities and gradients, and ten past steps of the coefficients.
        "logistic regression": rows * len(dataset.classes) * 8 * 4 + len(dataset.classes) * width * 8 * 22,
        "backbone pass": pass_bytes(config.backbone, config.batch_size, config.image_height, config.image_width, config.blocks, config.input_padding),
        "backbone weights": BACKBONE_PARAMETERS[config.backbone] * 4,
        "libraries": LIBRARIES_BYTES,
    }
    return MemoryEstimate(parts, hint="Lower image_height/image_width or batch_size, turn off flip_augment, or raise ML_MEMORY_LIMIT.")


def train(dataset: ClassifierDataset, config: ClassifierConfig, progress: ProgressCallback, device: DeviceInfo | None = None) -> TrainedModel:
    import torch

    device = device or select_device()
    set_seed(config.seed)
    config = fitted_input(config, dataset.train_items)
    n_classes = len(dataset.classes)
    if n_classes < 2:
        raise ValueError("the defect-type classifier needs at least 2 classes")
    if len(set(dataset.train_labels)) < 2:
        raise ValueError("the defect-type classifier needs labelled examples of at least 2 classes")
    started = time.perf_counter()
    progress(2, "extracting features")
    x = embed(dataset.train_items, config, device.name, flips=config.flip_augment)
    y = np.tile(np.asarray(dataset.train_labels, dtype=np.int64), len(x) // max(1, len(dataset.train_items)))
    progress(60, "fitting head")
    head = LinearHead.fit(x, y, n_classes, config)
    metrics: dict[str, float] = {}
    if dataset.validation_items:
        progress(75, "evaluating")
        xv = embed(dataset.validation_items, config, device.name)
        predicted = head.probabilities(xv).argmax(axis=1)
        truth = np.asarray(dataset.validation_labels, dtype=np.int64)
        metrics["accuracy"] = accuracy(truth, predicted)
        metrics["macro_f1"] = macro_f1(truth, predicted, n_classes)
        matrix = confusion_matrix(truth, predicted, n_classes).tolist()
    else:
        matrix = []
    state = {
        "format": FORMAT,
        "config": config.to_dict(),
        "classes": list(dataset.classes),
        "head": {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in vars(head).items()},
        "backbone_sha256": backbone_digest(config.backbone, config.backbone_weights),
    }

    def save(path: Path) -> None:
        torch.save(state, path)

    details = {"train_seconds": round(time.perf_counter() - started, 3), "confusion_matrix": matrix, **dataset.describe()}
    return TrainedModel(model=head, metrics=metrics, save=save, artifact_name="classifier.pt", details=details)


class ClassifierPredictor(Predictor):
    """``predict_batch(images)`` → ``{"label", "confidence", "probabilities"}`` per image."""

    def __init__(self, config: ClassifierConfig, classes: list[str], head: LinearHead, device: str) -> None:
        self.config, self.classes, self.head, self.device = config, classes, head, device

    @classmethod
    def load(cls, artifact: Path, device: DeviceInfo | None = None) -> Self:
        device = device or select_device()
        state = load_torch_state(artifact, FORMAT, "a defect-type classifier")
        head = LinearHead(**{k: v.numpy() for k, v in state["head"].items()})
        # Artifacts from before input padding / pooling options existed: unpadded input, mean + max pooling.
        config = ClassifierConfig.from_dict({"input_padding": 0, "pooling": ["mean", "max"], **state["config"]})
        check_weights(config.backbone, config.backbone_weights, state.get("backbone_sha256"))
        return cls(config, list(state["classes"]), head, device.name)

    def probabilities_from_groups(self, groups: list[tuple[list[int], dict[int, Any]]], n: int) -> list[dict[str, Any]]:
        """Results from backbone groups computed once for several models (see :func:`ml.vision.pipeline.predict`)."""
        return self._results(self.head.probabilities(pool_groups(groups, self.config.blocks, n, self.config.pooling)))

    def predict_batch(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        if len(items) == 0:
            return []
        return self._results(self.head.probabilities(embed(items, self.config, self.device)))

    def _results(self, probs: np.ndarray) -> list[dict[str, Any]]:
        return [
            {
                "label": self.classes[int(row.argmax())],
                "confidence": float(row.max()),
                "probabilities": {c: round(float(p), 4) for c, p in zip(self.classes, row, strict=True)},
            }
            for row in probs
        ]
