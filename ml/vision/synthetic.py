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


# --- synthetic defects on real good parts (training data for the anomaly model's segmentation head) ------

DEFECT_STYLES = ("brightness", "texture_swap", "blur", "streaks", "mottle", "line", "pits", "chipped_edge")
_STYLE_WEIGHTS = (0.16, 0.16, 0.12, 0.12, 0.10, 0.14, 0.12, 0.08)


def _blob_mask(rng: np.random.Generator, height: int, width: int, cover: float) -> np.ndarray:
    """An irregular region covering about ``cover`` of the image: thresholded smooth noise (0/1 float32)."""
    import cv2

    scale = int(rng.choice([4, 6, 8, 12]))
    noise = cv2.resize(rng.normal(0, 1, (scale + 2, scale + 2)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return (noise > np.quantile(noise, 1 - cover)).astype(np.float32)


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(mask, (0, 0), sigma) if sigma > 0 else mask


def _region_source(rng: np.random.Generator, style: str, img: np.ndarray, donors: list[np.ndarray], unit: float) -> np.ndarray:
    """What the region of a region-style defect shows instead of the part's own surface."""
    import cv2

    h, w = img.shape
    if style == "brightness":  # a patch of different reflectance or contrast (uneven surface)
        return (img - img.mean()) * rng.uniform(0.6, 1.5) + img.mean() + rng.uniform(-35, 35)
    if style == "texture_swap" and donors:  # the surface of another good part, flipped: a texture that does not belong
        donor = cv2.resize(donors[int(rng.integers(len(donors)))], (w, h)).astype(np.float32)
        donor = donor[::-1] if rng.random() < 0.5 else donor
        return (donor[:, ::-1] if rng.random() < 0.5 else donor) * rng.uniform(0.8, 1.2)
    if style == "blur":  # a smeared, worn or frayed patch
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(2, 6) * unit) + rng.uniform(-20, 30)
    if style == "streaks":  # machining streaks stronger than the part's own
        column = cv2.GaussianBlur(rng.normal(0, 1, (1, w)).astype(np.float32), (0, 0), rng.uniform(0.5, 2) * unit)
        return img + column * rng.uniform(10, 30) + rng.normal(0, rng.uniform(2, 8), (h, w)).astype(np.float32)
    coarse = rng.normal(0, 1, (max(2, h // 4), max(2, w // 4))).astype(np.float32)  # mottled stain
    return img + cv2.resize(coarse, (w, h)) * rng.uniform(15, 40)


def _shape_layer(rng: np.random.Generator, style: str, h: int, w: int, unit: float) -> tuple[np.ndarray, float]:
    """A thin or small defect's pixels (uint8 layer) and the grey-level change they get."""
    import cv2

    layer = np.zeros((h, w), np.uint8)
    if style == "line":  # a crack or scratch: a wandering polyline
        points = [(rng.uniform(0, w), rng.uniform(0, h))]
        step, angle = rng.uniform(5, 20) * unit, rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(4, 16))):
            angle += rng.normal(0, 0.4)
            points.append((points[-1][0] + np.cos(angle) * step, points[-1][1] + np.sin(angle) * step))
        cv2.polylines(layer, [np.array(points, np.int32)], False, 255, max(1, int(rng.integers(1, 4) * unit)))
        return layer, float(rng.choice([-1, 1], p=[0.75, 0.25]) * rng.uniform(25, 80))
    if style == "pits":  # blowholes: one or two small dark pits
        for _ in range(int(rng.integers(1, 3))):
            axes = (max(1, int(rng.integers(2, 9) * unit)), max(1, int(rng.integers(2, 9) * unit)))
            cv2.ellipse(layer, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), axes, rng.uniform(0, 180), 0, 360, 255, -1)
        return layer, -float(rng.uniform(30, 90))
    # chipped edge: a bite out of one side of the part
    side = int(rng.integers(4))
    along, across = (w, h) if side < 2 else (h, w)
    centre, half, depth = rng.uniform(0.1, 0.9) * along, rng.uniform(0.05, 0.25) * along, rng.uniform(0.04, 0.2) * across
    ts = np.linspace(-1, 1, 9)
    inner = [(centre + t * half, depth * (1 - t * t) * rng.uniform(0.6, 1.2)) for t in ts]
    outline = inner + [(centre + half, 0.0), (centre - half, 0.0)]
    if side == 1:
        outline = [(u, h - 1 - d) for u, d in outline]
    elif side == 2:
        outline = [(d, u) for u, d in outline]
    elif side == 3:
        outline = [(w - 1 - d, u) for u, d in outline]
    cv2.fillPoly(layer, [np.array(outline, np.int32)], 255)
    return layer, float(rng.choice([-1, 1]) * rng.uniform(30, 80))


def add_defect(rng: np.random.Generator, image: np.ndarray, donors: list[np.ndarray] | None = None, style: str = "") -> tuple[np.ndarray, np.ndarray]:
    """A copy of a good part's grey image with one synthetic defect, and its mask (float32 0/1).

    Styles (``style`` "" picks one at random) imitate what line cameras see: region changes (brightness or
    contrast, another part's texture, smearing, stronger streaks, mottling; irregular blobs with feathered
    edges) and thin or small ones (cracks and scratches, pits, chipped edges). Sizes scale with the image.
    ``donors`` are other good parts' images for ``texture_swap``.
    """
    if style and style not in DEFECT_STYLES:
        raise ValueError(f"style must be empty or one of {', '.join(DEFECT_STYLES)}")
    style = style or str(rng.choice(DEFECT_STYLES, p=_STYLE_WEIGHTS))
    img = image.astype(np.float32)
    h, w = img.shape
    unit = min(h, w) / 256
    if style in ("line", "pits", "chipped_edge"):
        layer, delta = _shape_layer(rng, style, h, w, unit)
        mask = (layer > 0).astype(np.float32)
        out = img + _feather(mask, rng.uniform(0.5, 1.5) * unit) * delta
    else:
        mask = _blob_mask(rng, h, w, rng.uniform(0.03, 0.35))
        alpha = _feather(mask, rng.uniform(1, 6) * unit)
        out = img * (1 - alpha) + _region_source(rng, style, img, list(donors or []), unit) * alpha
    return np.clip(out, 0, 255).astype(np.uint8), mask
