import math

import numpy as np
import pytest

from ml.traffic.geometry import GeometryError, Homography, LineSpec, ZoneSpec, point_in_polygon
from ml.traffic.speed import SpeedEstimator


def test_homography_maps_a_known_trapezoid_onto_a_rectangle():
    # A 3.5 m x 20 m lane seen in perspective: narrow at the top of the image, wide at the bottom.
    image = [(300, 100), (340, 100), (400, 400), (200, 400)]
    ground = [(0, 20), (3.5, 20), (3.5, 0), (0, 0)]
    h = Homography(image, ground)
    np.testing.assert_allclose(h.to_ground(image), np.asarray(ground, dtype=float), atol=1e-6)
    # The middle of the bottom edge is 1.75 m across, 0 m along.
    np.testing.assert_allclose(h.to_ground([(300, 400)])[0], (1.75, 0), atol=1e-6)
    # Perspective: the image midpoint of the lane's left edge is much closer to the camera than 10 m.
    y = h.to_ground([(250, 250)])[0][1]
    assert 0 < y < 10


def test_homography_rejects_degenerate_points():
    with pytest.raises(GeometryError):
        Homography([(0, 0), (1, 1), (2, 2), (0, 5)], [(0, 0), (1, 0), (1, 1), (0, 1)])
    with pytest.raises(GeometryError):
        Homography([(0, 0), (1, 0), (1, 1)], [(0, 0), (1, 0), (1, 1)])


def test_speed_from_a_calibrated_top_down_view_is_smoothed_and_bounded():
    # 10 px = 1 m; a vehicle moving 5 px/frame at 20 fps = 10 m/s = 36 km/h.
    h = Homography([(0, 0), (100, 0), (100, 100), (0, 100)], [(0, 0), (10, 0), (10, 10), (0, 10)])
    est = SpeedEstimator(h, fps=20)
    speeds = [est.update("a", f, (50, 5 * f + (1.5 if f % 2 else -1.5))) for f in range(40)]
    assert speeds[0] is None
    assert speeds[-1] == pytest.approx(36, abs=2)
    assert est.summary("a") == pytest.approx(36, abs=3)
    # A teleporting box (tracking glitch) is not a 1000 km/h vehicle.
    est.update("b", 0, (0, 0))
    for f in range(1, 12):
        est.update("b", f, (0, 5 * f))
    before = est.update("b", 12, (0, 60))
    assert est.update("b", 13, (0, 5000)) == before


def test_lines_and_zones_validate_their_points():
    with pytest.raises(GeometryError):
        LineSpec("x", (1, 1), (1, 2))
    with pytest.raises(GeometryError):
        ZoneSpec("z", ((0, 0), (1, 1), (2, 2)))
    zone = ZoneSpec("z", ((0, 0), (10, 0), (10, 10), (0, 10)))
    assert zone.contains((5, 5)) and not zone.contains((15, 5))
    assert point_in_polygon((1, 9), [(0, 0), (10, 0), (0, 10)]) is False
    line = LineSpec("d", (0, 0), (10, 10))
    assert math.isclose(line.signed_distance((10, 0)), -math.sqrt(50))
