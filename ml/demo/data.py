from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_CLASSES = 3


@dataclass(frozen=True)
class DemoDataset:
    x_train: np.ndarray  # (n, 2) float32
    y_train: np.ndarray  # (n,) int64
    x_val: np.ndarray
    y_val: np.ndarray

    def describe(self) -> dict[str, int]:
        return {"train_samples": len(self.y_train), "validation_samples": len(self.y_val), "classes": N_CLASSES}


def make_dataset(n_samples: int = 1500, noise: float = 0.25, seed: int = 0, val_fraction: float = 0.2) -> DemoDataset:
    """Three interleaved spirals in the plane; the same ``seed`` gives the same points."""
    if n_samples < 30:
        raise ValueError("n_samples must be at least 30")
    if not 0 < val_fraction < 1:
        raise ValueError("val_fraction must be between 0 and 1")
    rng = np.random.default_rng(seed)
    per_class = n_samples // N_CLASSES
    xs, ys = [], []
    for label in range(N_CLASSES):
        radius = np.linspace(0.05, 1.0, per_class)
        angle = label * 2 * np.pi / N_CLASSES + radius * 3.0 * np.pi + rng.normal(0, noise, per_class)
        xs.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
        ys.append(np.full(per_class, label))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.int64)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    n_val = max(N_CLASSES, int(len(y) * val_fraction))
    return DemoDataset(x_train=x[n_val:], y_train=y[n_val:], x_val=x[:n_val], y_val=y[:n_val])
