from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from ml.core import ConfigError, Predictor, ProgressCallback, TrainConfig, TrainedModel, load_torch_state, set_seed
from ml.demo.data import N_CLASSES, DemoDataset
from ml.device import DeviceInfo, select_device
from ml.memory import MemoryEstimate
from ml.metrics import accuracy, macro_f1

CLASS_NAMES = ("red", "green", "blue")


@dataclass
class DemoConfig(TrainConfig):
    epochs: int = 60
    hidden: int = 64
    learning_rate: float = 0.01
    batch_size: int = 128
    # Data generation (the "snapshot" of this family is fully described by these three numbers).
    n_samples: int = 1500
    noise: float = 0.35
    data_seed: int | None = None  # None: the run picks one and records it in the data snapshot

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.epochs <= 100_000:
            raise ConfigError("epochs must be between 1 and 100000")
        if not 2 <= self.hidden <= 4096:
            raise ConfigError("hidden must be between 2 and 4096")
        if not 0 < self.learning_rate < 10:
            raise ConfigError("learning_rate must be between 0 and 10")
        if not 1 <= self.batch_size <= 100_000:
            raise ConfigError("batch_size must be between 1 and 100000")
        if not 30 <= self.n_samples <= 10_000_000:
            raise ConfigError("n_samples must be between 30 and 10000000")
        if not 0 <= self.noise <= 5:
            raise ConfigError("noise must be between 0 and 5")
        if self.data_seed is not None and self.data_seed < 0:
            raise ConfigError("data_seed must be a non-negative integer")


def memory_estimate(config: DemoConfig, dataset: DemoDataset) -> MemoryEstimate:
    """Predicted peak memory of :func:`train` (on the CPU; on a GPU the tensors sit in device memory instead)."""
    n_train, n_val, h = len(dataset.y_train), len(dataset.y_val), config.hidden
    parameters = 2 * h + h + h * h + h + h * N_CLASSES + N_CLASSES
    parts = {
        # Points (2 float32) and labels (int64), as NumPy arrays and again as tensors, plus the shuffled order per epoch.
        "points": (n_train + n_val) * (2 * 4 + 8) * 2 + n_train * 8 * 2,
        # Weights, gradients and Adam's two moments.
        "model and optimiser": parameters * 4 * 4,
        # The validation pass holds about three hidden-layer outputs for every validation point at once (measured: 1.0 GB
        # above the imports for 400,000 validation points at hidden 256, i.e. 2.5 of them).
        "validation pass": n_val * (h * 4 * 3 + N_CLASSES * 4 * 2),
        "training batch": min(config.batch_size, n_train) * h * 4 * 8,
    }
    return MemoryEstimate(parts, hint="Lower n_samples or hidden, or raise ML_MEMORY_LIMIT on a larger worker.")


def _build(hidden: int):  # noqa: ANN202 - torch imported lazily
    from torch import nn

    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, N_CLASSES))


def train(dataset: DemoDataset, config: DemoConfig, progress: ProgressCallback, device: DeviceInfo | None = None) -> TrainedModel:
    import torch
    from torch import nn

    device = device or select_device()
    set_seed(config.seed)
    progress(1, "preparing")
    model = _build(config.hidden).to(device.name)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.from_numpy(dataset.x_train).to(device.name)
    y = torch.from_numpy(dataset.y_train).to(device.name)
    x_val = torch.from_numpy(dataset.x_val).to(device.name)
    y_val = torch.from_numpy(dataset.y_val).to(device.name)
    generator = torch.Generator().manual_seed(config.seed)
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(y), generator=generator).to(device.name)
        total = 0.0
        for start in range(0, len(y), config.batch_size):
            idx = order[start : start + config.batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = float(loss_fn(logits, y_val))
            val_acc = float((logits.argmax(1) == y_val).float().mean())
        progress(
            2 + 93 * epoch / config.epochs,
            "training",
            {"epoch": epoch, "train_loss": round(total / len(y), 5), "val_loss": round(val_loss, 5), "val_accuracy": round(val_acc, 5)},
        )
    progress(96, "evaluating")
    with torch.no_grad():
        predicted = model(x_val).argmax(1).cpu().numpy()
    metrics = {
        "accuracy": accuracy(dataset.y_val, predicted),
        "macro_f1": macro_f1(dataset.y_val, predicted, N_CLASSES),
        "val_loss": val_loss,
    }
    model = model.cpu()

    def save(path: Path) -> None:
        torch.save({"format": "downstream.demo/1", "hidden": config.hidden, "state_dict": model.state_dict()}, path)

    details = {"parameters": sum(p.numel() for p in model.parameters()), "train_seconds": round(time.perf_counter() - started, 3)}
    return TrainedModel(model=model, metrics=metrics, save=save, details=details)


class DemoPredictor(Predictor):
    def __init__(self, model: Any, device: DeviceInfo) -> None:
        self.model = model
        self.device = device

    @classmethod
    def load(cls, artifact: Path, device: DeviceInfo | None = None) -> Self:
        device = device or select_device()
        payload = load_torch_state(artifact, "downstream.demo/1", "a demo-classifier")
        model = _build(payload["hidden"])
        model.load_state_dict(payload["state_dict"])
        return cls(model.to(device.name).eval(), device)

    def predict_batch(self, items: Sequence[Sequence[float]]) -> list[dict[str, Any]]:
        import torch

        if len(items) == 0:
            return []
        points = np.asarray(items, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError("each input must be a pair of numbers [x, y]")
        with torch.no_grad():
            probs = torch.softmax(self.model(torch.from_numpy(points).to(self.device.name)), dim=1).cpu().numpy()
        return [
            {"label": CLASS_NAMES[int(row.argmax())], "probabilities": {n: round(float(p), 4) for n, p in zip(CLASS_NAMES, row, strict=True)}} for row in probs
        ]
