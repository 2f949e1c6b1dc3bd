from ml.traffic.events import EventDetector
from ml.traffic.geometry import ZoneSpec

SQUARE = ((0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0))


def test_a_vehicle_standing_still_in_a_zone_raises_one_event():
    detector = EventDetector([ZoneSpec("stop", SQUARE, kind="stopped_vehicle", min_seconds=2)], fps=10)
    events = []
    for f in range(20):  # drives in
        events += detector.update(f, [("a", (50.0, 5.0 * f / 2), 40.0)])
    assert events == []
    for f in range(20, 60):  # stands still (with a pixel of jitter)
        events += detector.update(f, [("a", (50.0 + f % 2, 50.0), 40.0)])
    assert [(e.kind, e.track_id, e.zone) for e in events] == [("stopped_vehicle", "a", "stop")]
    # Moving through the zone never raises it.
    moving = EventDetector([ZoneSpec("stop", SQUARE, kind="stopped_vehicle", min_seconds=2)], fps=10)
    assert sum((moving.update(f, [("b", (50.0, 3.0 * f), 40.0)]) for f in range(33)), []) == []


def test_congestion_needs_occupancy_for_a_time_and_re_arms():
    zone = ZoneSpec("jam", SQUARE, kind="congestion", min_seconds=1, occupancy_threshold=3)
    detector = EventDetector([zone], fps=10)
    busy = [(f"t{i}", (10.0 + 20 * i, 50.0), 30.0) for i in range(3)]
    events = []
    for f in range(8):
        events += detector.update(f, busy)
    assert events == []  # not yet one second
    for f in range(8, 30):
        events += detector.update(f, busy)
    assert [e.kind for e in events] == ["congestion"]
    for f in range(30, 60):
        events += detector.update(f, busy[:1])
    for f in range(60, 80):
        events += detector.update(f, busy)
    assert [e.kind for e in events] == ["congestion", "congestion"]


def test_a_closed_track_leaves_no_state_behind():
    """A stream session runs for days: what is kept per track must go when the track closes."""
    detector = EventDetector([ZoneSpec("stop", SQUARE, kind="stopped_vehicle", min_seconds=1)], fps=10)
    for f in range(40):
        detector.update(f, [("a", (50.0, 50.0), 40.0)])
    assert detector.track_state("a")["raised"] == ["stop"]
    detector.forget("a")
    assert detector.track_state("a") == {"stopped_since": {}, "raised": []}
    assert not detector._raised_stops and not detector._history and not detector._stopped_since
