"""A synthetic road video drawn from scratch: for the demo and the tests (the real clips may not be shipped).

A grey two-way road seen from above with lane markings and a little sensor noise; vehicles (boxes with a
windscreen and a shadow-free outline) drive along lanes, downwards on the right-hand lanes and upwards on the
left-hand ones. :func:`make_road_video` returns the ground truth: how many vehicles cross the horizontal
mid-line in each direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.traffic.video import H264Writer


@dataclass(frozen=True)
class SyntheticVehicle:
    lane: int  # 0..lanes-1, left to right; the left half drives up, the right half down
    start_frame: int
    speed_px: float  # pixels per frame
    length: int = 70
    width: int = 36
    colour: tuple[int, int, int] = (40, 40, 200)
    stop_at_y: float | None = None  # the vehicle halts here (a stopped vehicle)
    stop_frames: int = 0


@dataclass(frozen=True)
class SyntheticTruth:
    frames: int
    fps: float
    width: int
    height: int
    line_y: float
    down: int
    up: int


def default_vehicles(frames: int, lanes: int = 4) -> list[SyntheticVehicle]:
    colours = [(40, 40, 200), (200, 200, 200), (30, 30, 30), (200, 120, 40), (60, 160, 60), (0, 200, 230)]
    out = []
    gap = 16
    for i, start in enumerate(range(2, max(3, frames - 40), gap)):
        lane = i % lanes
        out.append(SyntheticVehicle(lane=lane, start_frame=start, speed_px=7 + (i % 3) * 2, colour=colours[i % len(colours)]))
    return out


def vehicle_box(v: SyntheticVehicle, frame: int, *, width: int, height: int, lanes: int) -> tuple[int, int, int, int] | None:
    """The vehicle's box (x1, y1, x2, y2) at ``frame``, or None when it is not on screen."""
    t = frame - v.start_frame
    if t < 0:
        return None
    distance = v.speed_px * t
    if v.stop_at_y is not None:
        travel_to_stop = (v.stop_at_y + v.length) if v.lane >= lanes // 2 else (height - v.stop_at_y)
        if distance > travel_to_stop:
            stopped_for = (distance - travel_to_stop) / v.speed_px
            distance = travel_to_stop + max(0.0, stopped_for - v.stop_frames) * v.speed_px
    lane_w = width / lanes
    cx = lane_w * (v.lane + 0.5)
    if v.lane >= lanes // 2:  # drives down: enters at the top
        y1 = -v.length + distance
    else:  # drives up: enters at the bottom
        y1 = height - distance
    y2 = y1 + v.length
    if y2 < 0 or y1 > height:
        return None
    return round(cx - v.width / 2), round(y1), round(cx + v.width / 2), round(y2)


def make_road_video(
    path: Path | str,
    *,
    frames: int = 90,
    fps: float = 15.0,
    width: int = 320,
    height: int = 240,
    lanes: int = 4,
    vehicles: list[SyntheticVehicle] | None = None,
    seed: int = 0,
) -> SyntheticTruth:
    """Write the video as H.264 MP4 at ``path`` and return the crossings of the line y = height / 2."""
    import cv2

    rng = np.random.default_rng(seed)
    vehicles = default_vehicles(frames, lanes) if vehicles is None else vehicles
    road = np.full((height, width, 3), 95, np.uint8)
    road[:, :, 1] = 100
    lane_w = width / lanes
    for k in range(1, lanes):
        x = round(k * lane_w)
        if k == lanes // 2:
            cv2.line(road, (x - 2, 0), (x - 2, height), (0, 200, 230), 2)
            cv2.line(road, (x + 2, 0), (x + 2, height), (0, 200, 230), 2)
        else:
            for y in range(0, height, 30):
                cv2.line(road, (x, y), (x, y + 14), (235, 235, 235), 2)
    line_y = height / 2
    down = up = 0
    for v in vehicles:
        positions = [vehicle_box(v, f, width=width, height=height, lanes=lanes) for f in range(frames)]
        centres = [(b[1] + b[3]) / 2 for b in positions if b is not None]
        if centres and min(centres) < line_y - 4 and max(centres) > line_y + 4:
            if v.lane >= lanes // 2:
                down += 1
            else:
                up += 1
    with H264Writer(path, fps, width, height, crf=23) as writer:
        for f in range(frames):
            img = road.copy()
            for v in vehicles:
                box = vehicle_box(v, f, width=width, height=height, lanes=lanes)
                if box is None:
                    continue
                x1, y1, x2, y2 = box
                cv2.rectangle(img, (x1, y1), (x2, y2), v.colour, -1)
                cv2.rectangle(img, (x1, y1), (x2, y2), (20, 20, 20), 1)
                # A darker windscreen towards the front, so the blob is not uniform.
                front = y1 + 8 if v.lane < lanes // 2 else y2 - 20
                cv2.rectangle(img, (x1 + 4, front), (x2 - 4, front + 12), (50, 50, 50), -1)
            noise = rng.integers(-3, 4, img.shape, dtype=np.int16)
            writer.write(np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return SyntheticTruth(frames=frames, fps=fps, width=width, height=height, line_y=line_y, down=down, up=up)
