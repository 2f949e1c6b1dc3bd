"""Ground speed of tracks from a calibrated camera (image → ground-plane homography)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from ml.traffic.geometry import Homography, Point


@dataclass
class SpeedConfig:
    window_seconds: float = 0.5  # displacement measured over this span, not frame to frame (detector jitter)
    smoothing: float = 0.3  # exponential smoothing factor of successive measurements
    max_kmh: float = 250.0  # a measurement above this is a tracking glitch and is discarded
    min_history_seconds: float = 0.4  # no speed before a track has been followed this long


@dataclass
class _TrackSpeed:
    points: deque = field(default_factory=lambda: deque(maxlen=256))  # (frame, x_m, y_m)
    smoothed: float | None = None
    samples: list[float] = field(default_factory=list)


class SpeedEstimator:
    def __init__(self, homography: Homography, fps: float, config: SpeedConfig | None = None) -> None:
        self.homography = homography
        self.fps = fps
        self.config = config or SpeedConfig()
        self._tracks: dict[str, _TrackSpeed] = {}

    def update(self, track_id: str, frame: int, ground_contact: Point) -> float | None:
        """Feed the track's ground contact point (bottom centre of its box); returns its smoothed speed in km/h."""
        c = self.config
        state = self._tracks.setdefault(track_id, _TrackSpeed())
        x, y = self.homography.to_ground([ground_contact])[0]
        state.points.append((frame, float(x), float(y)))
        window = max(1, round(c.window_seconds * self.fps))
        first = state.points[0]
        if (frame - first[0]) < c.min_history_seconds * self.fps:
            return state.smoothed
        # The oldest point at least `window` frames back (or the oldest we have).
        ref = first
        for p in reversed(state.points):
            if frame - p[0] >= window:
                ref = p
                break
        dt = (frame - ref[0]) / self.fps
        if dt <= 0:
            return state.smoothed
        kmh = math.hypot(x - ref[1], y - ref[2]) / dt * 3.6
        if kmh > c.max_kmh:
            return state.smoothed
        state.smoothed = kmh if state.smoothed is None else (1 - c.smoothing) * state.smoothed + c.smoothing * kmh
        state.samples.append(state.smoothed)
        return state.smoothed

    def summary(self, track_id: str) -> float | None:
        """The track's median smoothed speed (km/h), or None when it never had one."""
        state = self._tracks.get(track_id)
        if not state or not state.samples:
            return None
        ordered = sorted(state.samples)
        return ordered[len(ordered) // 2]

    def rename(self, old: str, new: str) -> None:
        if old in self._tracks:
            self._tracks[new] = self._tracks.pop(old)

    def forget(self, track_id: str) -> None:
        self._tracks.pop(track_id, None)
