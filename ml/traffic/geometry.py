"""Image geometry of a camera: counting lines, zones (polygons) and the image → ground-plane homography."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]


class GeometryError(ValueError):
    """A line, zone or calibration that cannot be used (degenerate points, wrong count)."""


@dataclass(frozen=True)
class LineSpec:
    """A counting line from ``a`` to ``b`` in native image pixels.

    Crossing directions are named by the side an object moves *to*: ``+1`` is the side on the left of a → b in
    image coordinates (y down), i.e. where ``cross(b − a, p − a) > 0``; for a line drawn left to right that is
    the lower half of the image ("down"). ``wrong_way`` names the direction that raises a wrong-way event.
    """

    key: str
    a: Point
    b: Point
    wrong_way: int | None = None
    name: str = ""  # shown on the annotated video (default: the key)

    def __post_init__(self) -> None:
        if math.dist(self.a, self.b) < 2:
            raise GeometryError(f"line {self.key!r}: its two points must be at least 2 px apart")
        if self.wrong_way not in (None, 1, -1):
            raise GeometryError(f"line {self.key!r}: wrong_way must be 1, -1 or None")

    @property
    def length(self) -> float:
        return math.dist(self.a, self.b)

    def signed_distance(self, p: Point) -> float:
        """Distance of ``p`` from the (infinite) line, positive on the +1 side."""
        (ax, ay), (bx, by) = self.a, self.b
        return ((bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)) / self.length

    def position_along(self, p: Point) -> float:
        """Projection of ``p`` on the segment: 0 at ``a``, 1 at ``b``."""
        (ax, ay), (bx, by) = self.a, self.b
        dx, dy = bx - ax, by - ay
        return ((p[0] - ax) * dx + (p[1] - ay) * dy) / (dx * dx + dy * dy)

    def image_direction(self, direction: int) -> str:
        """A human name for a crossing direction in image terms (down/up/right/left)."""
        (ax, ay), (bx, by) = self.a, self.b
        # The +1 normal of a → b in image coordinates is (−dy, dx).
        nx, ny = -(by - ay) * direction, (bx - ax) * direction
        if abs(ny) >= abs(nx):
            return "down" if ny > 0 else "up"
        return "right" if nx > 0 else "left"


@dataclass(frozen=True)
class ZoneSpec:
    """A polygon zone. ``kind`` is ``stopped_vehicle`` (a vehicle standing still raises an event) or
    ``congestion`` (at least ``occupancy_threshold`` vehicles inside for ``min_seconds`` raises one)."""

    key: str
    polygon: tuple[Point, ...]
    kind: str = "stopped_vehicle"
    min_seconds: float = 5.0
    occupancy_threshold: int = 5

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise GeometryError(f"zone {self.key!r}: a polygon needs at least 3 points")
        if polygon_area(self.polygon) < 4:
            raise GeometryError(f"zone {self.key!r}: the polygon has no area")
        if self.kind not in ("stopped_vehicle", "congestion"):
            raise GeometryError(f"zone {self.key!r}: kind must be stopped_vehicle or congestion")

    def contains(self, p: Point) -> bool:
        return point_in_polygon(p, self.polygon)


def polygon_area(polygon: Sequence[Point]) -> float:
    s = 0.0
    for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        s += x1 * y2 - x2 * y1
    return abs(s) / 2


def point_in_polygon(p: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd rule; points on an edge may fall either way."""
    x, y = p
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


class Homography:
    """Maps image pixels to ground-plane metres from four point correspondences (``cv2.getPerspectiveTransform``)."""

    def __init__(self, image_points: Sequence[Point], ground_points: Sequence[Point]) -> None:
        import cv2

        if len(image_points) != 4 or len(ground_points) != 4:
            raise GeometryError("calibration needs exactly 4 image points and 4 ground points")
        src = np.asarray(image_points, dtype=np.float32)
        dst = np.asarray(ground_points, dtype=np.float32)
        for name, pts in (("image", src), ("ground", dst)):
            if polygon_area([tuple(p) for p in pts]) < 1e-6 or _three_collinear(pts):
                raise GeometryError(f"calibration: the 4 {name} points must form a quadrilateral, no three on a line")
        self.matrix = cv2.getPerspectiveTransform(src, dst)
        self.image_points = [tuple(map(float, p)) for p in src]
        self.ground_points = [tuple(map(float, p)) for p in dst]

    def to_ground(self, points: Sequence[Point] | np.ndarray) -> np.ndarray:
        """``(n, 2)`` image points → ``(n, 2)`` ground points in metres."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        homogeneous = np.hstack([pts, np.ones((len(pts), 1))]) @ self.matrix.T
        return homogeneous[:, :2] / homogeneous[:, 2:3]


def _three_collinear(pts: np.ndarray) -> bool:
    for i in range(4):
        a, b, c = (pts[j] for j in range(4) if j != i)
        area = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) / 2
        scale = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1e-9) ** 2
        if area < 1e-4 * scale:
            return True
    return False
