"""Multi-object tracking that holds at any frame rate.

ByteTrack-style association (confident detections first, then weak ones to extend tracks that exist) but
matched on *predicted positions* instead of box overlap: a road camera that streams at 2–5 frames per second
moves a vehicle half to two of its lengths between frames, so boxes of one vehicle in consecutive frames hardly
overlap and IoU matching loses every track. Each track predicts its centre from its own velocity; a track too
young to have one borrows the motion of the established tracks around it (vehicles in one lane move alike), so
it is followed from its second frame. Costs are centre distances in units of the vehicle's size, gated, with a
size-change penalty, solved by the Hungarian method. A blob that holds the predicted centres of two or more
tracks (vehicles in adjacent lanes or a queue merged into one blob) is split between them first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ml.traffic.detection import Box, Detection


@dataclass(frozen=True)
class TrackedBox:
    track_id: int
    box: Box
    score: float
    label: str | None


@dataclass
class TrackerConfig:
    high_threshold: float = 0.5  # detections at least this confident are matched first
    low_threshold: float = 0.1  # weaker ones only extend existing tracks; below this they are ignored
    new_track_threshold: float = 0.6  # an unmatched detection starts a track from this score
    buffer_seconds: float = 1.0  # how long a lost track may be re-found
    # Largest distance between a track's predicted centre and a detection's, × the vehicle's size (the mean of the
    # two boxes' diagonals): moving tracks are predicted well, young ones (no velocity yet, no neighbours) are not.
    gate: float = 0.9
    young_gate: float = 2.0
    max_area_change: float = 3.0  # boxes of one vehicle in consecutive frames differ less than this in area
    split_merged: bool = True
    split_area: float = 1.4  # a blob this many times larger than the tracks inside it is split
    # … between the tracks inside it whose box is at least this share of the blob's: a shaking camera's specks
    # tracked inside a large vehicle's blob must not cut it up.
    split_share: float = 0.02
    neighbourhood: float = 4.0  # a young track borrows the velocity of established tracks within this × its size


@dataclass
class _State:
    track_id: int
    box: Box
    score: float
    label: str | None
    last_frame: int
    hits: int = 1
    velocity: tuple[float, float] | None = None  # pixels per frame, once seen twice

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    @property
    def size(self) -> float:
        return math.hypot(self.box[2] - self.box[0], self.box[3] - self.box[1])


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


class MotionTracker:
    """Tracks detections across frames; :meth:`update` returns the tracks matched or started in this frame."""

    def __init__(self, fps: float, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.buffer = max(1, round(self.config.buffer_seconds * fps))
        self._tracks: list[_State] = []
        self._next_id = 1
        self._frame = 0

    def update(self, detections: list[Detection]) -> list[TrackedBox]:
        c = self.config
        self._frame += 1
        frame = self._frame
        self._tracks = [t for t in self._tracks if frame - t.last_frame <= self.buffer]
        predicted = self._predict(frame)
        detections = self._split_merged([d for d in detections if d.score >= c.low_threshold], predicted)
        high = [d for d in detections if d.score >= c.high_threshold]
        low = [d for d in detections if d.score < c.high_threshold]
        out: list[TrackedBox] = []
        unmatched_tracks = list(range(len(self._tracks)))
        unmatched_high = list(range(len(high)))
        for pool, leftovers in ((high, unmatched_high), (low, None)):
            if not pool or not unmatched_tracks:
                continue
            pairs = self._match([self._tracks[i] for i in unmatched_tracks], [predicted[i] for i in unmatched_tracks], pool)
            matched_tracks = set()
            for ti, di in pairs:
                track = self._tracks[unmatched_tracks[ti]]
                self._advance(track, pool[di], frame)
                out.append(TrackedBox(track.track_id, track.box, track.score, track.label))
                matched_tracks.add(unmatched_tracks[ti])
                if leftovers is not None:
                    leftovers.remove(di)
            unmatched_tracks = [i for i in unmatched_tracks if i not in matched_tracks]
        for di in unmatched_high:
            d = high[di]
            if d.score < c.new_track_threshold:
                continue
            track = _State(self._next_id, d.box, d.score, d.label, frame)
            self._next_id += 1
            self._tracks.append(track)
            out.append(TrackedBox(track.track_id, track.box, track.score, track.label))
        return out

    def _predict(self, frame: int) -> list[tuple[float, float, bool]]:
        """Each track's predicted centre now, and whether the prediction rests on a known velocity."""
        c = self.config
        moving = [(t.center, t.velocity, t.size) for t in self._tracks if t.velocity is not None and t.hits >= 3]
        out = []
        for t in self._tracks:
            gap = frame - t.last_frame
            velocity = t.velocity
            if velocity is None and moving:
                # Young track: the mean motion of established neighbours, weighted by closeness.
                x, y = t.center
                weights, vx, vy = 0.0, 0.0, 0.0
                for (mx, my), (ux, uy), size in moving:
                    distance = math.hypot(mx - x, my - y)
                    reach = c.neighbourhood * max(size, t.size)
                    if distance < reach:
                        w = 1.0 - distance / reach
                        weights, vx, vy = weights + w, vx + w * ux, vy + w * uy
                if weights > 0:
                    velocity = (vx / weights, vy / weights)
            if velocity is None:
                out.append((t.center[0], t.center[1], False))
            else:
                out.append((t.center[0] + velocity[0] * gap, t.center[1] + velocity[1] * gap, True))
        return out

    def _split_merged(self, detections: list[Detection], predicted: list[tuple[float, float, bool]]) -> list[Detection]:
        """A detection that holds the predicted centres of two or more moving tracks, and is clearly larger than
        each of them, is vehicles merged into one blob (adjacent lanes, a queue): it is split into one box per track,
        each track's size at its predicted centre, clipped to the blob."""
        if not self.config.split_merged:
            return detections
        # A track seen once is predicted with its neighbours' motion: a vehicle that showed apart from the blob for
        # one frame and merges again (adjacent lanes at a low frame rate) keeps its track.
        moving = [(t, p) for t, p in zip(self._tracks, predicted, strict=True) if p[2]]
        if len(moving) < 2:
            return detections
        out = []
        for d in detections:
            x1, y1, x2, y2 = d.box
            area = (x2 - x1) * (y2 - y1)
            # Vehicle-sized tracks only: small ones inside a large blob are fragments or noise, not vehicles.
            inside = [(t, p) for t, p in moving if x1 <= p[0] <= x2 and y1 <= p[1] <= y2 and _area(t.box) >= self.config.split_share * area]
            if len(inside) < 2 or area < self.config.split_area * max(_area(t.box) for t, _ in inside):
                out.append(d)
                continue
            for t, (px, py, _) in inside:
                hw, hh = (t.box[2] - t.box[0]) / 2, (t.box[3] - t.box[1]) / 2
                box = (max(x1, px - hw), max(y1, py - hh), min(x2, px + hw), min(y2, py + hh))
                out.append(Detection(box, d.score, d.label))
        return out

    def _match(self, tracks: list[_State], predicted: list[tuple[float, float, bool]], detections: list[Detection]) -> list[tuple[int, int]]:
        from scipy.optimize import linear_sum_assignment

        c = self.config
        large = 1e6
        cost = np.full((len(tracks), len(detections)), large)
        for i, (track, (px, py, known)) in enumerate(zip(tracks, predicted, strict=True)):
            area = max(1.0, (track.box[2] - track.box[0]) * (track.box[3] - track.box[1]))
            gate = c.gate if known else c.young_gate
            for j, d in enumerate(detections):
                b = d.box
                d_area = max(1.0, (b[2] - b[0]) * (b[3] - b[1]))
                ratio = max(area, d_area) / min(area, d_area)
                if ratio > c.max_area_change:
                    continue
                size = (track.size + math.hypot(b[2] - b[0], b[3] - b[1])) / 2
                distance = math.hypot((b[0] + b[2]) / 2 - px, (b[1] + b[3]) / 2 - py) / max(1.0, size)
                if distance > gate:
                    continue
                cost[i, j] = distance / gate + 0.25 * math.log(ratio)
        if not np.isfinite(cost).any() or (cost >= large).all():
            return []
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(k)) for r, k in zip(rows, cols, strict=True) if cost[r, k] < large]

    def _advance(self, track: _State, detection: Detection, frame: int) -> None:
        old = track.center
        gap = max(1, frame - track.last_frame)
        track.box, track.score, track.last_frame = detection.box, detection.score, frame
        if detection.label is not None:
            track.label = detection.label
        new = track.center
        step = ((new[0] - old[0]) / gap, (new[1] - old[1]) / gap)
        track.velocity = step if track.velocity is None else (0.5 * step[0] + 0.5 * track.velocity[0], 0.5 * step[1] + 0.5 * track.velocity[1])
        track.hits += 1
