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
from typing import Any

import numpy as np

from ml.traffic.classify import CropClassifier
from ml.traffic.counting import Crossing, LineCounter, overlap_of_smaller
from ml.traffic.detection import BackgroundSubtractionConfig, BackgroundSubtractionDetector, Box, Detector
from ml.traffic.events import Event, EventConfig, EventDetector
from ml.traffic.geometry import Homography, LineSpec, Point, ZoneSpec
from ml.traffic.speed import SpeedConfig, SpeedEstimator
from ml.traffic.tracking import MotionTracker, TrackerConfig
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
    # … if it starts within this × the lost box's diagonal of where it was heading, and its box's area is within
    # tracker.max_area_change of the lost one's
    stitch_distance: float = 0.75
    # Background subtraction absorbs a vehicle that stands still into the background (its box shrinks over a
    # few frames, then vanishes). A confirmed track that vanishes inside the frame while slow (under hold_speed ×
    # its diagonal per second) or shrinking is held at its last full box for up to hold_seconds, so
    # stopped-vehicle events still see it and it is continued when it moves off.
    hold_speed: float = 0.1
    hold_seconds: float = 120.0
    max_classifications: int = 2  # crops classified per track (at confirmation, then once when seen much larger)
    ghost_seconds: float = 3.0  # a new track in the spot a stopped vehicle left this recently is its ghost
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
    # Confirmed tracks observed in this frame: (track key, box in native pixels). Their class is the finished
    # track's label (votes accumulate over the track's life); self-training harvests pseudo-labels from these.
    boxes: list[tuple[str, Box]] = field(default_factory=list)


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
    still: int = 0  # consecutive frames seen standing still
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
        self.tracker = MotionTracker(fps, getattr(detector, "tracker_config", None) or self.config.tracker)
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
        self._closed: list[dict] = []  # recently closed tracks' path tails, carried in a snapshot (see restore)
        self._suppressed: set[str] = set()  # re-found tracks a previous attempt already closed
        # Where confirmed tracks stood still long enough to be absorbed into the background: when the vehicle
        # drives off, the background there still shows it for a while, and the hole it leaves is a "ghost" blob.
        self._stops: dict[str, tuple[Box, int]] = {}  # track key: (box, last frame it stood there)

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
                if self._is_ghost(tb.box, index):
                    self._suppress(key)
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
        # A track lost this frame (a vehicle the detector misses for a frame or for good) goes on where its
        # velocity takes it, for the counter only: at a low frame rate a vehicle last seen on the line would
        # otherwise never be seen past it. One frame, confirmed tracks only; a slow one stays on the line.
        seen_keys = {t.key for t in seen}
        for track in self._tracks.values():
            if track.last_frame == index - 1 and track.key not in seen_keys and track.hits >= c.min_hits and not track.held:
                vx, vy = track.velocity
                moved = (track.box[0] + vx, track.box[1] + vy, track.box[2] + vx, track.box[3] + vy)
                centre = (track.center[0] + vx, track.center[1] + vy)
                crossings.extend(self.counter.update(track.key, centre, index, confirmed=True, label=track.label, box=moved))
        anchors = [(t.key, t.center, t.diagonal) for t in self._held(index)]
        for track in seen:
            confirmed = track.hits >= c.min_hits
            crossings.extend(self.counter.update(track.key, track.center, index, confirmed=confirmed, label=track.label, box=track.box))
            if confirmed:
                anchors.append((track.key, track.center, track.diagonal))
                if math.hypot(*track.velocity) * self.fps <= c.hold_speed * track.diagonal:
                    track.still += 1
                    if track.still >= self.fps and _travelled(track) >= track.diagonal:  # a vehicle that came and stood still for a second
                        self._remember_stop(track.key, max(track.recent_boxes or [track.box], key=_area), index)
                else:
                    track.still = 0
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
        boxes = [(t.key, t.box) for t in seen if t.hits >= c.min_hits]
        return FrameResult(index, crossings, events, finished, active_tracks=len(seen), boxes=boxes)

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
            # One vehicle's boxes in nearby frames are of a size: a speck near where a lost car was heading
            # (a pan's marking edge, a fragment of another vehicle) is not its continuation.
            if max(_area(box), _area(track.box)) > c.tracker.max_area_change * max(1.0, min(_area(box), _area(track.box))):
                continue
            if distance <= c.stitch_distance * track.diagonal and distance < best_distance:
                best, best_distance = track.key, distance
        return best

    def _remember_stop(self, key: str, box: Box, index: int) -> None:
        """The largest box the vehicle stood in: while it is absorbed into the background its box shrinks."""
        old = self._stops.get(key)
        self._stops[key] = (box if old is None or _area(box) >= _area(old[0]) else old[0], index)

    def _is_ghost(self, box: Box, index: int) -> bool:
        """A new track born inside the stop box of a held (or just driven-off) vehicle: the hole it leaves."""
        recent = self.config.ghost_seconds * self.fps
        for key, (stop, since) in list(self._stops.items()):
            track = self._tracks.get(key)
            if track is None:
                del self._stops[key]
                continue
            if not track.held and index - since > recent:
                continue
            if overlap_of_smaller(box, stop) >= 0.5:
                return True
        return False

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
                if _travelled(track) >= track.diagonal:
                    self._remember_stop(track.key, full, index)
            held.append(track)
        return held

    def _finish_lost(self, index: int) -> list[TrackSummary]:
        limit = (self.config.stitch_seconds + self.config.tracker.buffer_seconds) * self.fps
        hold_limit = self.config.hold_seconds * self.fps
        done = [t for t in self._tracks.values() if index - t.last_frame > (hold_limit if t.held else limit)]
        summaries = [s for t in done if (s := self._close(t)) is not None]
        if done:  # tracker ids of closed tracks: without this the map grows with every vehicle of a stream session
            self._id_map = {tid: key for tid, key in self._id_map.items() if key in self._tracks}
        return summaries

    def _close(self, track: _Track) -> TrackSummary | None:
        del self._tracks[track.key]
        tail = self._tail_frames()
        self._closed = [c for c in self._closed if c["last_frame"] >= self._frame - tail]
        recent_path = [list(p) for p in track.path if p[0] >= track.last_frame - tail]
        if track.hits >= self.config.min_hits:  # written (or suppressed as already written): not to be written again
            self._closed.append({"key": track.key, "last_frame": track.last_frame, "diagonal": track.diagonal, "path": recent_path})
        if track.key in self._suppressed:
            self._suppressed.discard(track.key)
            self.counter.forget(track.key)
            self.events.forget(track.key)
            if self.speed is not None:
                self.speed.forget(track.key)
            return None
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
        summaries = [s for t in list(self._tracks.values()) if (s := self._close(t)) is not None]
        self._id_map.clear()
        return summaries

    # -- checkpoints -----------------------------------------------------------------------------------------
    def _tail_frames(self) -> int:
        c = self.config
        return round((c.warmup_seconds + c.stitch_seconds + c.tracker.buffer_seconds) * self.fps) + 1

    def snapshot(self) -> dict[str, Any]:
        """What a resumed run needs, besides the re-read warm-up video, to go on as if never interrupted (JSON):
        the open tracks (keys, paths, votes, line and event state), the path tails of recently closed tracks and
        the zones' congestion state. Take it right after the last frame before a checkpoint."""
        tail = self._tail_frames()
        tracks = []
        for t in self._tracks.values():
            tracks.append(
                {
                    "key": t.key,
                    "first_frame": t.first_frame,
                    "last_frame": t.last_frame,
                    "box": list(t.box),
                    "hits": t.hits,
                    "velocity": list(t.velocity),
                    "path": [list(p) for p in t.path],
                    "votes": dict(t.votes),
                    "classified_area": t.classified_area,
                    "classifications": t.classifications,
                    "max_speed": t.max_speed,
                    "held": t.held,
                    "recent_boxes": [list(b) for b in t.recent_boxes],
                    "suppressed": t.key in self._suppressed,
                    "lines": self.counter.state_of(t.key),
                    "events": self.events.track_state(t.key),
                }
            )
        closed = [c for c in self._closed if c["last_frame"] >= self._frame - tail]
        areas = self.classifier.box_areas if self.classifier is not None else []
        stops = {key: [list(box), since] for key, (box, since) in self._stops.items()}
        return {"frame": self._frame, "tracks": tracks, "closed": closed, "zones": self.events.zone_state(), "box_areas": areas, "stops": stops}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue the run a :meth:`snapshot` was taken from. Call it after re-reading the warm-up frames, before
        the first frame after the snapshot: each track rebuilt from the warm-up video that follows an open
        snapshot track takes over its key, path, class votes, line state (so it does not count again) and event
        state; one that follows a track the previous run already closed is never written or counted; snapshot
        tracks nobody follows (a stopped vehicle the new background model absorbed) are held as they were."""
        stored = {t["key"]: t for t in state.get("tracks", [])}
        candidates = [(t["key"], t["path"], _diag(t["box"]), True) for t in stored.values()]
        candidates += [(c["key"], c["path"], c["diagonal"], False) for c in state.get("closed", [])]
        pairs = []
        for track in self._tracks.values():
            mine = {f: (x, y) for f, x, y in track.path}
            for key, path, diagonal, is_open in candidates:
                common = [(mine[f], (x, y)) for f, x, y in path if f in mine]
                # Three shared frames, or all of them for a track born just before the checkpoint (its snapshot
                # path is one or two points long, and the rebuilt track must still take over its key).
                if not common or len(common) < min(3, len(path), len(mine)):
                    continue
                distance = float(np.median([math.dist(a, b) for a, b in common]))
                # Boxes of one vehicle differ between runs (a young background model, a box cut by the frame's
                # edge), those of two vehicles rarely follow one path this closely: the nearest pairs win below.
                if distance <= max(0.75 * max(diagonal, track.diagonal), 0.06 * math.hypot(self.width, self.height)):
                    pairs.append((distance, track.key, key, is_open))
        taken_new: set[str] = set()
        taken_old: set[str] = set()
        renamed: dict[str, str] = {}
        # Open tracks first: a rebuilt track that also follows a closed fragment of its vehicle continues the open one.
        for _, new_key, old_key, is_open in sorted(pairs, key=lambda p: (not p[3], p[0])):
            if new_key in taken_new or old_key in taken_old:
                continue
            taken_new.add(new_key)
            taken_old.add(old_key)
            if is_open:
                renamed[new_key] = old_key
            else:
                self._suppress(new_key)
        for new_key, old_key in renamed.items():
            warm = self._tracks.pop(new_key)
            track = self._restored(stored[old_key])
            track.box, track.last_frame, track.velocity, track.recent_boxes = warm.box, warm.last_frame, warm.velocity, warm.recent_boxes
            track.hits = max(track.hits, warm.hits)
            self._tracks[old_key] = track
            self._id_map = {tid: (old_key if key == new_key else key) for tid, key in self._id_map.items()}
            self.counter.forget(new_key)
            self.events.rename(new_key, old_key)
            if self.speed is not None:
                self.speed.rename(new_key, old_key)
        for key, data in stored.items():
            if key not in self._tracks:
                self._tracks[key] = self._restored(data)
        for key, data in stored.items():
            self.counter.restore_state(key, data["lines"])
            self.events.restore_track_state(key, data["events"])
            if data.get("suppressed"):
                self._suppressed.add(key)
        self.events.restore_zone_state(state.get("zones", {}))
        self._stops = {key: (tuple(box), since) for key, (box, since) in state.get("stops", {}).items() if key in self._tracks}
        self._closed = list(state.get("closed", []))
        if self.classifier is not None and state.get("box_areas"):
            self.classifier.box_areas = state["box_areas"]

    def _restored(self, data: dict[str, Any]) -> _Track:
        return _Track(
            key=data["key"],
            first_frame=data["first_frame"],
            last_frame=data["last_frame"],
            box=tuple(data["box"]),
            hits=data["hits"],
            velocity=tuple(data["velocity"]),
            path=[tuple(p) for p in data["path"]],
            votes=Counter(data["votes"]),
            classified_area=data["classified_area"],
            classifications=data["classifications"],
            max_speed=data["max_speed"],
            held=data["held"],
            recent_boxes=[tuple(b) for b in data["recent_boxes"]],
        )

    def _suppress(self, key: str) -> None:
        """A rebuilt track that follows one a previous run closed: it must neither count nor be written again."""
        self._suppressed.add(key)
        self.counter.restore_state(key, {line.key: {"side": 0, "last_out": None, "counted": True, "pending": None} for line in self.lines})
        self.events.restore_track_state(key, {"stopped_since": {}, "raised": [z.key for z in self.zones]})

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


def _travelled(track: _Track) -> float:
    """How far the track's centre is from where it was first seen."""
    _, x0, y0 = track.path[0]
    return math.hypot(track.center[0] - x0, track.center[1] - y0)


def _diag(box) -> float:  # noqa: ANN001
    return math.hypot(box[2] - box[0], box[3] - box[1])


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
    annotated_path: Path | Callable[[int], Path] | None = None,
    segment_frames: int | None = None,
    on_segment: Callable[[Path, int, int], None] | None = None,
    is_stream: bool = False,
    index_offset: int = 0,
    on_first_frame: Callable[[np.ndarray], None] | None = None,
    resume_state: dict[str, Any] | None = None,
) -> Iterator[FrameResult]:
    """Run ``pipeline`` over ``source`` from ``start_frame``; yields a :class:`FrameResult` per frame from
    ``start_frame`` on (warm-up frames before it are processed but not yielded). At the end of a file the open
    tracks are closed and yielded in a final result. ``annotated_path`` receives the annotated H.264 MP4 of the
    yielded frames; with ``segment_frames`` it is cut into MP4s of that many frames (rolling segments of a stream
    session): ``annotated_path`` is then called with each segment's first frame for its path, and
    ``on_segment(path, first, last)`` is told of each segment once written (also of a last, shorter one when
    the run ends or the stream is lost). Streams number their frames from ``index_offset`` and raise
    :class:`~ml.traffic.video.StreamLost` when they stop (the pipeline keeps its state for a reconnect).
    ``resume_state``, a :meth:`TrafficPipeline.snapshot` taken after frame ``start_frame - 1`` by an earlier run,
    is restored after the warm-up so tracks and events carry on under the same keys."""
    warmup = 0 if is_stream else min(start_frame, round(pipeline.config.warmup_seconds * pipeline.fps))
    # Before that, a background-subtraction detector re-learns its background model over its history (cheap:
    # no tracking or classification), so it cuts vehicles as an uninterrupted run would.
    learn = getattr(pipeline.detector, "learn", None)
    background = 0 if is_stream or learn is None else min(start_frame - warmup, pipeline.detector.warmup_frames)
    writer = None
    segment: tuple[Path, int] | None = None

    def close_segment() -> None:
        nonlocal writer
        writer.close()
        writer = None
        if on_segment is not None:
            on_segment(segment[0], segment[1], last)

    last = (index_offset if is_stream else start_frame) - 1
    frames = read_frames(source, start=start_frame - warmup - background, is_stream=is_stream, index_offset=index_offset, prefetch=8)
    try:
        for index, frame in frames:
            if end_frame is not None and index >= end_frame:
                break
            if index < start_frame - warmup:
                learn(frame)
                continue
            if on_first_frame is not None:
                on_first_frame(frame)
                on_first_frame = None
            if resume_state is not None and (is_stream or index >= start_frame):
                pipeline.restore(resume_state)
                resume_state = None
            result = pipeline.process(index, frame)
            if index < start_frame and not is_stream:
                continue  # warm-up: rebuilt state only
            last = index
            if annotated_path is not None:
                if writer is None:
                    scale = min(1.0, pipeline.config.annotate_max_width / pipeline.width)
                    segment = (annotated_path(index) if callable(annotated_path) else annotated_path, index)
                    writer = H264Writer(segment[0], pipeline.fps, round(pipeline.width * scale), round(pipeline.height * scale))
                writer.write(pipeline.annotate(frame, (writer.width, writer.height)))
                if segment_frames and index - segment[1] + 1 >= segment_frames:
                    close_segment()
            yield result
        if not is_stream or (end_frame is not None and last + 1 >= end_frame):
            yield FrameResult(last, [], [], pipeline.finish(), active_tracks=0)
    finally:
        frames.close()
        if writer is not None:
            close_segment()
