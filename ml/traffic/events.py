"""Events raised from tracks: a vehicle stopped in a zone, congestion in a zone (wrong-way crossings come from
the line counter)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ml.traffic.geometry import Point, ZoneSpec


@dataclass(frozen=True)
class Event:
    kind: str  # stopped_vehicle | congestion | wrong_way
    frame: int
    track_id: str | None = None
    zone: str | None = None
    line: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identifies the event within a job: the same event found again (a resumed job) has the same key."""
        return f"{self.kind}:{self.zone or self.line or ''}:{self.track_id or self.frame}"


@dataclass
class EventConfig:
    stopped_max_move_fraction: float = 0.15  # moving less than this × the box diagonal over one second = stopped
    congestion_release_seconds: float = 2.0  # occupancy must stay below the threshold this long to re-arm


@dataclass
class _ZoneState:
    congested_since: int | None = None
    below_since: int | None = None
    raised: bool = False


class EventDetector:
    def __init__(self, zones: list[ZoneSpec], fps: float, config: EventConfig | None = None) -> None:
        self.zones = zones
        self.fps = fps
        self.config = config or EventConfig()
        self._history: dict[str, deque] = {}
        self._stopped_since: dict[tuple[str, str], int] = {}
        self._raised_stops: set[tuple[str, str]] = set()
        self._zone_state = {z.key: _ZoneState() for z in zones}

    def update(self, frame: int, tracks: list[tuple[str, Point, float]]) -> list[Event]:
        """``tracks``: (track id, anchor point, box diagonal) of the confirmed tracks seen in this frame."""
        events: list[Event] = []
        one_second = max(1, round(self.fps))
        occupancy = {z.key: 0 for z in self.zones}
        for track_id, point, diagonal in tracks:
            history = self._history.setdefault(track_id, deque(maxlen=one_second + 1))
            history.append((frame, point))
            moved = math.dist(history[0][1], point)
            still = frame - history[0][0] >= one_second - 1 and moved < self.config.stopped_max_move_fraction * diagonal
            for zone in self.zones:
                if not zone.contains(point):
                    self._stopped_since.pop((track_id, zone.key), None)
                    continue
                occupancy[zone.key] += 1
                if zone.kind != "stopped_vehicle":
                    continue
                key = (track_id, zone.key)
                if not still:
                    self._stopped_since.pop(key, None)
                    continue
                since = self._stopped_since.setdefault(key, history[0][0])
                if key not in self._raised_stops and frame - since >= zone.min_seconds * self.fps:
                    self._raised_stops.add(key)
                    stopped = round((frame - since) / self.fps, 1)
                    events.append(Event("stopped_vehicle", frame, track_id=track_id, zone=zone.key, details={"stopped_seconds": stopped}))
        for zone in self.zones:
            if zone.kind != "congestion":
                continue
            state = self._zone_state[zone.key]
            if occupancy[zone.key] >= zone.occupancy_threshold:
                state.below_since = None
                if state.congested_since is None:
                    state.congested_since = frame
                if not state.raised and frame - state.congested_since >= zone.min_seconds * self.fps:
                    state.raised = True
                    events.append(Event("congestion", frame, zone=zone.key, details={"occupancy": occupancy[zone.key], "since_frame": state.congested_since}))
            else:
                if state.below_since is None:
                    state.below_since = frame
                if frame - state.below_since >= self.config.congestion_release_seconds * self.fps:
                    state.congested_since = None
                    state.raised = False
        return events

    # -- checkpoints ------------------------------------------------------------------------------------------
    def track_state(self, track_id: str) -> dict[str, Any]:
        return {
            "stopped_since": {zone: since for (t, zone), since in self._stopped_since.items() if t == track_id},
            "raised": [zone for (t, zone) in self._raised_stops if t == track_id],
        }

    def restore_track_state(self, track_id: str, state: dict[str, Any]) -> None:
        keys = {z.key for z in self.zones}
        for zone in keys:
            self._stopped_since.pop((track_id, zone), None)
            self._raised_stops.discard((track_id, zone))
        for zone, since in state.get("stopped_since", {}).items():
            if zone in keys:
                self._stopped_since[(track_id, zone)] = since
        self._raised_stops.update((track_id, zone) for zone in state.get("raised", []) if zone in keys)

    def rename(self, old: str, new: str) -> None:
        """A track continues under another key: its recent positions move with it (its stop state does not)."""
        if old in self._history:
            self._history[new] = self._history.pop(old)
        for zone in self.zones:
            self._stopped_since.pop((old, zone.key), None)
            self._raised_stops.discard((old, zone.key))

    def zone_state(self) -> dict[str, dict[str, Any]]:
        return {key: {"congested_since": s.congested_since, "below_since": s.below_since, "raised": s.raised} for key, s in self._zone_state.items()}

    def restore_zone_state(self, states: dict[str, dict[str, Any]]) -> None:
        for key, s in states.items():
            if key in self._zone_state:
                self._zone_state[key] = _ZoneState(s["congested_since"], s["below_since"], s["raised"])

    def forget(self, track_id: str) -> None:
        """The track is closed (keys are never reused): drop everything kept for it, so a long stream session's
        memory and checkpoints do not grow with every vehicle that ever stopped."""
        self._history.pop(track_id, None)
        for zone in self.zones:
            self._stopped_since.pop((track_id, zone.key), None)
            self._raised_stops.discard((track_id, zone.key))
