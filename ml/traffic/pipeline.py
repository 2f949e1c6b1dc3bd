"""The traffic pipeline: frames → detections → tracks → line crossings, speeds, events, annotated video.

:class:`TrafficPipeline` processes one frame at a time and keeps all state in memory; :func:`process_video`
drives it over a file or stream from any frame, so a job can checkpoint (the frame up to which everything was
written) and resume after a crash. A resumed run re-reads ``warmup_seconds`` of video before the resume point
to rebuild the background model and the tracks, but emits nothing for those frames: what was written before
the checkpoint is neither lost nor written twice.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.traffic.classify import CropClassifier
from ml.traffic.counting import Crossing, LineCounter
from ml.traffic.detection import BackgroundSubtractionConfig, BackgroundSubtractionDetector, Box, Detector
from ml.traffic.events import Event, EventConfig, EventDetector
from ml.traffic.geometry import Homography, LineSpec, Point, ZoneSpec
from ml.traffic.speed import SpeedConfig, SpeedEstimator
from ml.traffic.tracking import ByteTracker, TrackerConfig
from ml.traffic.video import H264Writer, read_frames


@dataclass
class PipelineConfig:
    """The product's default configuration; the benchmark runs exactly this."""

    detection: BackgroundSubtractionConfig = field(default_factory=BackgroundSubtractionConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    events: EventConfig = field(default_factory=EventConfig)
    min_hits: int = 4  # a track is confirmed (may count) once seen in this many frames
    band_fraction: float = 0.012  # hysteresis band on each side of a line, × frame height
    stitch_seconds: float = 1.0  # a new track continuing a lost one within this time inherits it (fragments)
    stitch_distance: float = 0.75  # … if it starts within this × the lost box's diagonal of where it was heading
    # Background subtraction absorbs a vehicle that stands still into the background (its box shrinks over a
    # few frames, then vanishes). A confirmed track that vanishes inside the frame while slow (under hold_speed ×
    # its diagonal per second) or shrinking is held at its last full box for up to hold_seconds, so
    # stopped-vehicle events still see it and it is continued when it moves off.
    hold_speed: float = 0.1
    hold_seconds: float = 120.0
    max_classifications: int = 2  # crops classified per track (at confirmation, then once when seen much larger)
    warmup_seconds: float = 3.0  # video re-read before a resume point
    annotate_max_width: int = 960  # the annotated copy is encoded at most this wide (encoding 720p costs ~40% more)


@dataclass(frozen=True)
class TrackSummary:
    track_id: str
    label: str
    first_frame: int
    last_frame: int
    path: list[tuple[int, float, float]]  # (frame, x, y) of the box centre, at most ~120 points
    speed_kmh: float | None
    max_speed_kmh: float | None


@dataclass
class FrameResult:
    frame: int
    crossings: list[Crossing]
    events: list[Event]
    finished_tracks: list[TrackSummary]
    active_tracks: int


@dataclass
class _Track:
    key: str
    first_frame: int
    last_frame: int
    box: Box
    hits: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)
    path: list[tuple[int, float, float]] = field(default_factory=list)
    votes: Counter = field(default_factory=Counter)
    classified_area: float = 0.0
    classifications: int = 0
    speed: float | None = None
    max_speed: float | None = None
    held: bool = False
    recent_boxes: list[Box] = field(default_factory=list)

    @property
    def center(self) -> Point:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    @property
    def diagonal(self) -> float:
        return math.hypot(self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def label(self) -> str:
        return self.votes.most_common(1)[0][0] if self.votes else "car"


_COLOURS = {"car": (60, 200, 60), "bus": (0, 165, 255), "truck": (40, 40, 230), "motorcycle": (230, 120, 0), "bicycle": (200, 0, 200), "person": (0, 230, 230)}


class TrafficPipeline:
    def __init__(
        self,
        *,
        detector: Detector,
        lines: list[LineSpec],
        zones: list[ZoneSpec] | None = None,
        fps: float,
        frame_size: tuple[int, int] | None,
        homography: Homography | None = None,
        classifier: CropClassifier | None = None,
        config: PipelineConfig | None = None,
        track_prefix: str = "",
        initial_counts: dict[tuple[str, int], int] | None = None,
    ) -> None:
        self.config = config or PipelineConfig()
        self.detector = detector
        self.lines = lines
        self.zones = zones or []
        self.fps = fps
        # A detector may bring its own score scale (YOLO confidences run lower than the background subtractor's).
        self.tracker = ByteTracker(fps, getattr(detector, "tracker_config", None) or self.config.tracker)
        self.counter = LineCounter(lines)
        self.width = self.height = 0
        if frame_size is not None:
            self._set_size(*frame_size)
        self.speed = SpeedEstimator(homography, fps, self.config.speed) if homography is not None else None
        self.events = EventDetector(self.zones, fps, self.config.events)
        self.classifier = None if detector.classifies else (classifier or CropClassifier())
        self.track_prefix = track_prefix
        self.totals: dict[tuple[str, int], int] = defaultdict(int, initial_counts or {})
        self._tracks: dict[str, _Track] = {}
        self._id_map: dict[int, str] = {}
        self._frame = -1

    def _set_size(self, width: int, height: int) -> None:
        """Frame size (streams learn it from their first frame); the line band scales with the height."""
        self.width, self.height = width, height
        self.counter.band = max(3.0, self.config.band_fraction * height)

    # -- per frame -------------------------------------------------------------------------------------------
    def process(self, index: int, frame: np.ndarray) -> FrameResult:
        if not self.width:
            self._set_size(frame.shape[1], frame.shape[0])
        self._frame = index
        detections = self.detector.detect(frame)
        tracked = self.tracker.update(detections)
        c = self.config
        seen: list[_Track] = []
        newly_confirmed: list[_Track] = []
        for tb in tracked:
            key = self._id_map.get(tb.track_id)
            if key is None:
                key = self._stitch(tb.box, index) or f"{self.track_prefix}{tb.track_id}"
                self._id_map[tb.track_id] = key
            track = self._tracks.get(key)
            if track is None:
                track = self._tracks[key] = _Track(key=key, first_frame=index, last_frame=index, box=tb.box)
            elif track.last_frame == index:
                continue  # two tracker ids on one record this frame: keep the first
            old_center, old_frame = track.center, track.last_frame
            track.box, track.last_frame, track.held = tb.box, index, False
            track.recent_boxes = [*track.recent_boxes[-5:], tb.box]
            track.hits += 1
            if track.hits > 1 and index > old_frame:
                new_center = track.center
                dt = index - old_frame
                track.velocity = ((new_center[0] - old_center[0]) / dt, (new_center[1] - old_center[1]) / dt)
            track.path.append((index, round(track.center[0], 1), round(track.center[1], 1)))
            if tb.label is not None:
                track.votes[tb.label] += tb.score
            if track.hits == c.min_hits:
                newly_confirmed.append(track)
            elif self.classifier is not None and track.hits > c.min_hits and track.classifications < c.max_classifications:
                area = (track.box[2] - track.box[0]) * (track.box[3] - track.box[1])
                if area > 2.0 * track.classified_area and _inside(track.box, self.width, self.height):
                    newly_confirmed.append(track)
            seen.append(track)
        if self.classifier is not None and newly_confirmed:
            self._classify(frame, newly_confirmed)

        crossings: list[Crossing] = []
        anchors = [(t.key, t.center, t.diagonal) for t in self._held(index)]
        for track in seen:
            confirmed = track.hits >= c.min_hits
            crossings.extend(self.counter.update(track.key, track.center, index, confirmed=confirmed, label=track.label, box=track.box))
            if confirmed:
                anchors.append((track.key, track.center, track.diagonal))
                if self.speed is not None:
                    bottom = ((track.box[0] + track.box[2]) / 2, track.box[3])
                    track.speed = self.speed.update(track.key, index, bottom)
                    if track.speed is not None:
                        track.max_speed = max(track.max_speed or 0.0, track.speed)
        for crossing in crossings:
            self.totals[(crossing.line, crossing.direction)] += 1
        events = self.events.update(index, anchors)
        for x in crossings:
            if x.wrong_way:
                events.append(Event("wrong_way", x.frame, track_id=x.track_id, line=x.line, details={"direction": x.direction, "label": x.label}))
        finished = self._finish_lost(index)
        return FrameResult(index, crossings, events, finished, active_tracks=len(seen))

    def _classify(self, frame: np.ndarray, tracks: list[_Track]) -> None:
        results = self.classifier.classify(frame, [t.box for t in tracks])
        for track, (label, confidence) in zip(tracks, results, strict=True):
            # A confident ImageNet group outweighs any number of size-rule fallbacks.
            track.votes[label] += confidence if confidence > 0 else 0.05
            track.classified_area = (track.box[2] - track.box[0]) * (track.box[3] - track.box[1])
            track.classifications += 1

    def _stitch(self, box: Box, index: int) -> str | None:
        """The key of a recently lost track this new one continues, if any."""
        c = self.config
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        best, best_distance = None, math.inf
        for track in self._tracks.values():
            gap = index - track.last_frame
            if gap <= 0 or (gap > c.stitch_seconds * self.fps and not track.held) or track.hits < 2:
                continue
            px, py = track.center[0] + track.velocity[0] * gap, track.center[1] + track.velocity[1] * gap
            distance = math.hypot(cx - px, cy - py)
            if distance <= c.stitch_distance * track.diagonal and distance < best_distance:
                best, best_distance = track.key, distance
        return best

    def _held(self, index: int) -> list[_Track]:
        """Confirmed tracks that stopped and vanished into the background this frame or earlier."""
        c = self.config
        held = []
        for track in self._tracks.values():
            if track.last_frame >= index or track.hits < c.min_hits:
                continue
            if not track.held:
                if index - track.last_frame > 2 or not _inside(track.box, self.width, self.height, margin=10):
                    continue
                full = max(track.recent_boxes or [track.box], key=_area)
                slow = math.hypot(*track.velocity) * self.fps <= c.hold_speed * track.diagonal
                if not slow and _area(track.box) >= 0.6 * _area(full):
                    continue
                track.held = True
                track.box, track.velocity = full, (0.0, 0.0)
            held.append(track)
        return held

    def _finish_lost(self, index: int) -> list[TrackSummary]:
        limit = (self.config.stitch_seconds + self.config.tracker.buffer_seconds) * self.fps
        hold_limit = self.config.hold_seconds * self.fps
        done = [t for t in self._tracks.values() if index - t.last_frame > (hold_limit if t.held else limit)]
        return [s for t in done if (s := self._close(t)) is not None]

    def _close(self, track: _Track) -> TrackSummary | None:
        del self._tracks[track.key]
        self.counter.forget(track.key)
        self.events.forget(track.key)
        speed = self.speed.summary(track.key) if self.speed is not None else None
        if self.speed is not None:
            self.speed.forget(track.key)
        if track.hits < self.config.min_hits:
            return None
        step = max(1, len(track.path) // 120)
        path = track.path[::step]
        if path[-1] != track.path[-1]:
            path.append(track.path[-1])
        return TrackSummary(
            track.key,
            track.label,
            track.first_frame,
            track.last_frame,
            path,
            None if speed is None else round(speed, 1),
            None if track.max_speed is None else round(track.max_speed, 1),
        )

    def finish(self) -> list[TrackSummary]:
        """Close every open track (end of the video)."""
        return [s for t in list(self._tracks.values()) if (s := self._close(t)) is not None]

    # -- drawing ---------------------------------------------------------------------------------------------
    def annotate(self, frame: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """A copy of ``frame`` (resized to ``size``) with zones, lines and running counts, and the tracks' boxes."""
        import cv2

        if size is not None and size != (frame.shape[1], frame.shape[0]):
            # Resize first and draw at the output size: cheaper than drawing on the full frame.
            out = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        else:
            out = frame.copy()
        s = out.shape[1] / frame.shape[1]

        def pt(x: float, y: float) -> tuple[int, int]:
            return round(x * s), round(y * s)

        thickness = max(1, round(out.shape[0] / 360))
        font = 0.45 * thickness
        for zone in self.zones:
            pts = np.asarray([pt(x, y) for x, y in zone.polygon], dtype=np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [pts], True, (0, 200, 255) if zone.kind == "congestion" else (255, 120, 0), thickness)
        for line in self.lines:
            a, b = pt(*line.a), pt(*line.b)
            cv2.line(out, a, b, (0, 255, 255), thickness + 1)
            text = f"{line.name or line.key}: +{self.totals.get((line.key, 1), 0)} / -{self.totals.get((line.key, -1), 0)}"
            org = (max(5, min(a[0], b[0]) + 5), max(20, min(a[1], b[1]) - 8))
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, font * 1.3, (0, 0, 0), thickness + 2, cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, font * 1.3, (0, 255, 255), thickness, cv2.LINE_AA)
        for track in self._tracks.values():
            if track.last_frame != self._frame or track.hits < self.config.min_hits:
                continue
            colour = _COLOURS.get(track.label, (255, 255, 255))
            (x1, y1), (x2, y2) = pt(track.box[0], track.box[1]), pt(track.box[2], track.box[3])
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
            text = f"#{track.key} {track.label}" + (f" {track.speed:.0f} km/h" if track.speed is not None else "")
            cv2.putText(out, text, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, font, colour, thickness, cv2.LINE_AA)
        return out


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _inside(box: Box, width: int, height: int, margin: float = 2.0) -> bool:
    return box[0] > margin and box[1] > margin and box[2] < width - margin and box[3] < height - margin


def default_detector(config: PipelineConfig | None = None) -> BackgroundSubtractionDetector:
    return BackgroundSubtractionDetector((config or PipelineConfig()).detection)


def process_video(
    source: str | Path,
    pipeline: TrafficPipeline,
    *,
    start_frame: int = 0,
    end_frame: int | None = None,
    annotated_path: Path | None = None,
    is_stream: bool = False,
    index_offset: int = 0,
    on_first_frame: Callable[[np.ndarray], None] | None = None,
) -> Iterator[FrameResult]:
    """Run ``pipeline`` over ``source`` from ``start_frame``; yields a :class:`FrameResult` per frame from
    ``start_frame`` on (warm-up frames before it are processed but not yielded). At the end of a file the open
    tracks are closed and yielded in a final result. ``annotated_path`` receives the annotated H.264 MP4 of the
    yielded frames. Streams number their frames from ``index_offset`` and raise
    :class:`~ml.traffic.video.StreamLost` when they stop (the pipeline keeps its state for a reconnect)."""
    warmup = 0 if is_stream else min(start_frame, round(pipeline.config.warmup_seconds * pipeline.fps))
    writer = None
    last = (index_offset if is_stream else start_frame) - 1
    frames = read_frames(source, start=start_frame - warmup, is_stream=is_stream, index_offset=index_offset, prefetch=8)
    try:
        for index, frame in frames:
            if end_frame is not None and index >= end_frame:
                break
            if on_first_frame is not None:
                on_first_frame(frame)
                on_first_frame = None
            result = pipeline.process(index, frame)
            if index < start_frame and not is_stream:
                continue  # warm-up: rebuilt state only
            last = index
            if annotated_path is not None:
                if writer is None:
                    scale = min(1.0, pipeline.config.annotate_max_width / pipeline.width)
                    writer = H264Writer(annotated_path, pipeline.fps, round(pipeline.width * scale), round(pipeline.height * scale))
                writer.write(pipeline.annotate(frame, (writer.width, writer.height)))
            yield result
        if not is_stream or (end_frame is not None and last + 1 >= end_frame):
            yield FrameResult(last, [], [], pipeline.finish(), active_tracks=0)
    finally:
        frames.close()
        if writer is not None:
            writer.close()
