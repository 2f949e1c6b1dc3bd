"""Multi-object tracking: ultralytics' ByteTrack (needs the ``lap`` package) behind a small interface."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ml.traffic.classes import VEHICLE_CLASSES
from ml.traffic.detection import Box, Detection


@dataclass(frozen=True)
class TrackedBox:
    track_id: int
    box: Box
    score: float
    label: str | None


class _Detections:
    """The array view of detections that BYTETracker reads (``conf``, ``xywh``, ``cls``, boolean indexing)."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls

    @property
    def xywh(self) -> np.ndarray:
        out = np.empty_like(self.xyxy)
        out[:, 0] = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        out[:, 1] = (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2
        out[:, 2] = self.xyxy[:, 2] - self.xyxy[:, 0]
        out[:, 3] = self.xyxy[:, 3] - self.xyxy[:, 1]
        return out

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> _Detections:  # noqa: ANN001
        return _Detections(self.xyxy[index], self.conf[index], self.cls[index])


@dataclass
class TrackerConfig:
    high_threshold: float = 0.5
    low_threshold: float = 0.1
    new_track_threshold: float = 0.6
    buffer_seconds: float = 1.0  # how long a lost track may be re-found
    match_threshold: float = 0.8


class ByteTracker:
    def __init__(self, fps: float, config: TrackerConfig | None = None) -> None:
        from ultralytics.trackers.byte_tracker import BYTETracker

        c = config or TrackerConfig()
        args = SimpleNamespace(
            track_high_thresh=c.high_threshold,
            track_low_thresh=c.low_threshold,
            new_track_thresh=c.new_track_threshold,
            track_buffer=max(1, round(c.buffer_seconds * fps)),
            match_thresh=c.match_threshold,
            fuse_score=True,
        )
        self._tracker = BYTETracker(args)
        self._labels = {i: name for i, name in enumerate(VEHICLE_CLASSES)}
        self._label_index = {name: i for i, name in self._labels.items()}

    def update(self, detections: list[Detection]) -> list[TrackedBox]:
        if detections:
            xyxy = np.asarray([d.box for d in detections], dtype=np.float32)
            conf = np.asarray([d.score for d in detections], dtype=np.float32)
            cls = np.asarray([self._label_index.get(d.label, -1) for d in detections], dtype=np.float32)
        else:
            xyxy, conf, cls = np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)
        rows = self._tracker.update(_Detections(xyxy, conf, cls))
        out = []
        for row in rows:
            x1, y1, x2, y2, track_id, score, c = (float(v) for v in row[:7])
            out.append(TrackedBox(int(track_id), (x1, y1, x2, y2), score, self._labels.get(int(c))))
        return out
