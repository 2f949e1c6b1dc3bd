"""Procedurally generated part images for demos and tests: textured surfaces with scratches, spots and cracks.

Each defect comes with its pixel mask. Deterministic for a given seed; nothing is read from disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFECT_TYPES = ("scratch", "spot", "crack")


@dataclass(frozen=True)
class SyntheticPart:
    image: np.ndarray  # (h, w) uint8
    mask: np.ndarray  # (h, w) uint8, 255 where defective
    defect_type: str  # "" for a good part


def _surface(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    import cv2

    base = rng.uniform(95, 140)
    noise = rng.normal(0, 1, (height, width)).astype(np.float32)
    grain = cv2.GaussianBlur(noise, (0, 0), sigmaX=1.2) * 10
    coarse = cv2.resize(rng.normal(0, 1, (height // 16 + 2, width // 16 + 2)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC) * 5
    # Machining marks: faint parallel stripes every part has.
    stripes = (np.sin(np.arange(width, dtype=np.float32) / rng.uniform(2.5, 3.5)) * 3)[None, :]
    gradient = np.linspace(-8, 8, height, dtype=np.float32)[:, None] * rng.uniform(-1, 1)
    return base + grain + coarse + stripes + gradient


def _scratch(rng: np.random.Generator, surface: np.ndarray, mask: np.ndarray) -> None:
    import cv2

    h, w = surface.shape
    x0, y0 = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(0.3, 0.6) * min(h, w)
    x1, y1 = x0 + np.cos(angle) * length, y0 + np.sin(angle) * length
    thickness = int(rng.integers(2, 4))
    layer = np.zeros_like(mask)
    cv2.line(layer, (int(x0), int(y0)), (int(np.clip(x1, 0, w - 1)), int(np.clip(y1, 0, h - 1))), 255, thickness)
    surface[layer > 0] += rng.choice([-1, 1]) * rng.uniform(45, 70)
    mask |= layer


def _spot(rng: np.random.Generator, surface: np.ndarray, mask: np.ndarray) -> None:
    import cv2

    h, w = surface.shape
    cx, cy = int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.2, 0.8) * h)
    radius = int(rng.uniform(0.05, 0.1) * min(h, w)) + 2
    layer = np.zeros_like(mask)
    cv2.circle(layer, (cx, cy), radius, 255, -1)
    surface[layer > 0] -= rng.uniform(50, 80)
    mask |= layer


def _crack(rng: np.random.Generator, surface: np.ndarray, mask: np.ndarray) -> None:
    import cv2

    h, w = surface.shape
    points = [(rng.uniform(0.2, 0.8) * w, rng.uniform(0.1, 0.3) * h)]
    for _ in range(int(rng.integers(6, 10))):
        x, y = points[-1]
        points.append((np.clip(x + rng.normal(0, 0.06 * w), 0, w - 1), np.clip(y + rng.uniform(0.05, 0.1) * h, 0, h - 1)))
    layer = np.zeros_like(mask)
    cv2.polylines(layer, [np.array(points, dtype=np.int32)], False, 255, 2)
    surface[layer > 0] -= rng.uniform(60, 90)
    mask |= layer


_DRAW = {"scratch": _scratch, "spot": _spot, "crack": _crack}


def make_part(seed: int, defect_type: str = "", height: int = 128, width: int = 128) -> SyntheticPart:
    """One part image; ``defect_type`` is "" (good) or one of :data:`DEFECT_TYPES`."""
    if defect_type and defect_type not in _DRAW:
        raise ValueError(f"defect_type must be empty or one of {', '.join(DEFECT_TYPES)}")
    rng = np.random.default_rng(seed)
    surface = _surface(rng, height, width)
    mask = np.zeros((height, width), dtype=np.uint8)
    if defect_type:
        _DRAW[defect_type](rng, surface, mask)
    return SyntheticPart(np.clip(surface, 0, 255).astype(np.uint8), mask, defect_type)


def make_parts(n_good: int, n_per_defect: int, seed: int = 0, height: int = 128, width: int = 128) -> list[SyntheticPart]:
    """``n_good`` good parts then ``n_per_defect`` of each defect type, reproducible from ``seed``."""
    parts = [make_part(seed * 100_003 + i, "", height, width) for i in range(n_good)]
    for k, kind in enumerate(DEFECT_TYPES):
        parts += [make_part(seed * 100_003 + 10_000 * (k + 1) + i, kind, height, width) for i in range(n_per_defect)]
    return parts
