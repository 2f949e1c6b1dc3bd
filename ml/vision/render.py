"""Pictures of a result: heatmap overlay for operators, and boxes around the regions above the threshold."""

from __future__ import annotations

import numpy as np


def overlay_png(gray: np.ndarray, heatmap: np.ndarray, threshold: float, alpha: float = 0.45) -> bytes:
    """PNG bytes: the grey image with the heatmap in colour (red at 1.5× the threshold and above)."""
    import cv2

    if gray.shape != heatmap.shape:
        raise ValueError(f"image {gray.shape} and heatmap {heatmap.shape} differ in size")
    scale = max(threshold * 1.5, 1e-6)
    level = np.clip(heatmap / scale, 0, 1)
    colour = cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_JET)
    base = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    # Blend only where the score is notable, so a good part still looks like itself.
    weight = (alpha * np.clip((level - 0.3) / 0.4, 0, 1))[..., None]
    blended = (base * (1 - weight) + colour * weight).astype(np.uint8)
    # zlib level 1: a third faster than OpenCV's default 3 for ~20 % larger files; this runs once per inspected part,
    # in the inference worker, and the picture is for operators' eyes, not an archive.
    ok, buf = cv2.imencode(".png", blended, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("could not encode the heatmap overlay")
    return buf.tobytes()


def regions_above(heatmap: np.ndarray, threshold: float, min_area: int = 9) -> list[list[int]]:
    """``[x, y, width, height]`` of each connected region where ``heatmap >= threshold``, largest first."""
    import cv2

    binary = (heatmap >= threshold).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    boxes = [stats[i, :4].tolist() for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def hottest_region(heatmap: np.ndarray) -> list[int]:
    """``[x, y, width, height]`` of the region around the heatmap's peak: the connected area, holding the peak,
    that stays above the level halfway from the heatmap's median to its peak (the whole image if it is flat)."""
    import cv2

    peak, median = float(heatmap.max()), float(np.median(heatmap))
    level = median + 0.5 * (peak - median)
    if peak <= level:
        return [0, 0, int(heatmap.shape[1]), int(heatmap.shape[0])]
    _, labels, stats, _ = cv2.connectedComponentsWithStats((heatmap >= level).astype(np.uint8), connectivity=8)
    y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return stats[labels[y, x], :4].tolist()


def defect_boxes(heatmap: np.ndarray, level: float, min_area: int = 9) -> list[list[int]]:
    """Boxes for a part judged defective: each region at or above ``level``, largest first; when no region of
    ``min_area`` pixels reaches it (the verdict can rest on whole-image evidence the heatmap shows only faintly),
    the region around the hottest point, so a defective result always points somewhere."""
    return regions_above(heatmap, level, min_area) or [hottest_region(heatmap)]
