"""Directional line counting that does not inflate counts.

Public counters compare a track's position on consecutive frames with the line and count every sign change, so
a box that jitters on the line, a vehicle that stops on it, a track that is born, dies and is reborn (fragments)
or a short-lived false track all add counts. This counter:

- keeps a *hysteresis band* of ``band`` pixels on each side of the line: positions inside it change nothing;
- remembers per track and line the last side the track was seen on *outside* the band (side memory), so a
  crossing is a move from one side to the other however many frames it spends on the line;
- counts a track at most once per line;
- counts a track that is *born on the line* (first seen inside the band, on the segment: a vehicle that entered
  the frame merged with another and separated on the line, or one the background model had not learnt yet) when
  it leaves the band, toward the side it leaves to; a fragment inherits its predecessor's state instead, so it
  is never born on the line;
- counts only confirmed tracks: a crossing made before confirmation is held and emitted when (if) the track is
  confirmed, and dropped if the track goes back first;
- lets a fragment inherit the state of the track it continues (:meth:`LineCounter.inherit`), so a re-born
  track neither counts again nor misses the crossing its predecessor had started;
- suppresses a second crossing of the same line in the same direction within ``duplicate_frames`` frames by a
  box that mostly overlaps where the first crossing's track is *now* (a vehicle split into two detections; a
  vehicle that follows another in its lane crosses at the same spot a moment later and is counted).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ml.traffic.geometry import LineSpec, Point

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Crossing:
    line: str
    track_id: str
    direction: int  # +1 or -1, see LineSpec
    label: str
    frame: int
    point: Point
    wrong_way: bool = False


@dataclass
class _LineState:
    side: int = 0  # last side seen outside the band; 0 = not yet
    last_out: Point | None = None
    counted: bool = False
    pending: Crossing | None = None
    seen: bool = False
    born_on: Point | None = None  # where it was first seen, if that was inside the band and on the segment


@dataclass
class _Recent:
    crossing: Crossing
    box: Box  # the crossing track's latest box
    box_frame: int


@dataclass
class LineCounter:
    lines: list[LineSpec]
    band: float = 8.0
    segment_margin: float = 0.02  # fraction of the line length a crossing may miss the segment's ends by
    duplicate_frames: int = 5
    duplicate_overlap: float = 0.25
    _states: dict[tuple[str, str], _LineState] = field(default_factory=dict)
    _recent: list[_Recent] = field(default_factory=list)

    def update(self, track_id: str, point: Point, frame: int, *, confirmed: bool, label: str, box: Box | None = None) -> list[Crossing]:
        """Feed one observation of a track; returns the crossings counted now (confirmed tracks only)."""
        out: list[Crossing] = []
        if box is not None:
            for recent in self._recent:
                if recent.crossing.track_id == track_id:
                    recent.box, recent.box_frame = box, frame
        for line in self.lines:
            state = self._states.setdefault((track_id, line.key), _LineState())
            crossing = self._step(line, state, track_id, point, frame, label)
            if crossing is not None and not state.counted:
                if state.pending is not None and state.pending.direction != crossing.direction:
                    state.pending = None  # went back over the line before being confirmed: no net crossing
                else:
                    state.pending = crossing
            if confirmed and state.pending is not None and not state.counted:
                state.counted = True
                emitted = replace(state.pending, label=label)
                state.pending = None
                if not self._is_duplicate(emitted, box):
                    self._recent.append(_Recent(emitted, box or (point[0], point[1], point[0], point[1]), frame))
                    out.append(emitted)
        self._recent = [r for r in self._recent if frame - r.crossing.frame <= self.duplicate_frames]
        return out

    def _step(self, line: LineSpec, state: _LineState, track_id: str, point: Point, frame: int, label: str) -> Crossing | None:
        d = line.signed_distance(point)
        first, state.seen = not state.seen, True
        if abs(d) <= self.band:
            if first and -self.segment_margin <= line.position_along(point) <= 1 + self.segment_margin:
                state.born_on = point
            return None
        side = 1 if d > 0 else -1
        crossing = None
        if not state.side and state.born_on is not None:
            crossing = Crossing(line.key, track_id, side, label, frame, state.born_on, wrong_way=line.wrong_way == side)
        if state.side and side != state.side and state.last_out is not None:
            # Where the path from the last outside position to this one meets the line: is it on the segment?
            d0 = line.signed_distance(state.last_out)
            t = d0 / (d0 - d)
            hit = (state.last_out[0] + t * (point[0] - state.last_out[0]), state.last_out[1] + t * (point[1] - state.last_out[1]))
            along = line.position_along(hit)
            if -self.segment_margin <= along <= 1 + self.segment_margin:
                crossing = Crossing(line.key, track_id, side, label, frame, hit, wrong_way=line.wrong_way == side)
        state.side = side
        state.last_out = point
        return crossing

    def _is_duplicate(self, crossing: Crossing, box: Box | None) -> bool:
        if box is None:
            return False
        for recent in self._recent:
            c = recent.crossing
            if c.line == crossing.line and c.direction == crossing.direction and crossing.frame - c.frame <= self.duplicate_frames:
                if crossing.frame - recent.box_frame <= 1 and overlap_of_smaller(box, recent.box) >= self.duplicate_overlap:
                    return True
        return False

    def inherit(self, new_track: str, old_track: str) -> None:
        """``new_track`` continues ``old_track`` (a fragment): it takes over its side memory and counted flags."""
        for line in self.lines:
            old = self._states.get((old_track, line.key))
            if old is not None:
                self._states[(new_track, line.key)] = replace(old)

    def state_of(self, track_id: str) -> dict[str, dict]:
        """The track's per-line state as JSON (for a checkpoint)."""
        out = {}
        for line in self.lines:
            state = self._states.get((track_id, line.key))
            if state is not None:
                pending = state.pending
                out[line.key] = {
                    "side": state.side,
                    "last_out": None if state.last_out is None else list(state.last_out),
                    "counted": state.counted,
                    "seen": state.seen,
                    "born_on": None if state.born_on is None else list(state.born_on),
                    "pending": None if pending is None else {**asdict(pending), "point": list(pending.point)},
                }
        return out

    def restore_state(self, track_id: str, states: dict[str, dict]) -> None:
        """Set the track's per-line state from :meth:`state_of` (lines no longer configured are ignored)."""
        keys = {line.key for line in self.lines}
        for key, s in states.items():
            if key not in keys:
                continue
            pending = s.get("pending")
            self._states[(track_id, key)] = _LineState(
                side=s["side"],
                last_out=None if s["last_out"] is None else tuple(s["last_out"]),
                counted=s["counted"],
                # Checkpoints written before born-on-the-line counting: a track in one was seen already.
                seen=s.get("seen", True),
                born_on=None if s.get("born_on") is None else tuple(s["born_on"]),
                pending=None if pending is None else Crossing(**{**pending, "point": tuple(pending["point"])}),
            )

    def forget(self, track_id: str) -> None:
        for line in self.lines:
            self._states.pop((track_id, line.key), None)


def overlap_of_smaller(a: Box, b: Box) -> float:
    """Intersection area over the smaller box's area (1.0 when one box lies inside the other)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0
