"""Line-crossing logic on hand-made tracks: the cases that inflate counts in public tools."""

from ml.traffic.counting import LineCounter
from ml.traffic.geometry import LineSpec

LINE = LineSpec("L", (0.0, 100.0), (200.0, 100.0))  # horizontal, drawn left to right: +1 = down


def feed(counter, track, ys, *, x=50.0, start=0, confirmed_from=0):
    out = []
    for i, y in enumerate(ys):
        out += counter.update(track, (x, y), start + i, confirmed=i >= confirmed_from, label="car")
    return out


def test_a_clean_crossing_counts_once_with_its_direction():
    counter = LineCounter([LINE], band=5)
    down = feed(counter, "a", [60, 80, 95, 105, 120, 140])
    up = feed(counter, "b", [140, 120, 104, 96, 80, 60])
    assert [(c.track_id, c.direction) for c in down] == [("a", 1)]
    assert [(c.track_id, c.direction) for c in up] == [("b", -1)]
    assert LINE.image_direction(1) == "down" and LINE.image_direction(-1) == "up"
    assert abs(down[0].point[1] - 100) < 1e-6


def test_jitter_on_the_line_does_not_count():
    counter = LineCounter([LINE], band=5)
    # Hovers across the line inside the band, many sign changes of the raw distance.
    assert feed(counter, "a", [80, 97, 102, 98, 103, 96, 104, 99, 101, 97]) == []


def test_lingering_on_the_line_then_leaving_counts_once():
    counter = LineCounter([LINE], band=5)
    ys = [70, 90, 96, *[100 + (i % 3 - 1) * 4 for i in range(60)], 106, 110, 130]
    assert len(feed(counter, "a", ys)) == 1


def test_going_back_and_forth_counts_a_track_only_once():
    counter = LineCounter([LINE], band=5)
    assert len(feed(counter, "a", [80, 120, 80, 120, 80, 120])) == 1


def test_unconfirmed_tracks_do_not_count_and_late_confirmation_does():
    counter = LineCounter([LINE], band=5)
    assert feed(counter, "ghost", [90, 110, 120], confirmed_from=99) == []
    late = feed(counter, "late", [80, 92, 108, 120, 130], confirmed_from=4)
    assert [c.frame for c in late] == [2]  # counted when confirmed, dated when it crossed
    # Crossed and came back before confirmation: no net crossing.
    assert feed(counter, "back", [80, 120, 80, 70], confirmed_from=3) == []


def test_a_fragment_inherits_its_predecessors_state():
    counter = LineCounter([LINE], band=5)
    # Track a counted, then lost; its continuation b must not count again.
    assert len(feed(counter, "a", [80, 90, 110])) == 1
    counter.inherit("b", "a")
    assert feed(counter, "b", [115, 125, 140], start=3) == []
    # Track c seen above the line, lost on it; d continues below: the crossing is counted once.
    assert feed(counter, "c", [60, 80, 98], start=10) == []
    counter.inherit("d", "c")
    assert [c.track_id for c in feed(counter, "d", [104, 120, 140], start=13)] == ["d"]


def test_without_side_memory_a_track_born_past_the_line_does_not_count():
    counter = LineCounter([LINE], band=5)
    assert feed(counter, "born-below", [110, 130, 150]) == []


def test_a_track_born_on_the_line_counts_once_toward_the_side_it_leaves_to():
    counter = LineCounter([LINE], band=5)
    # First seen inside the band (entered merged with another vehicle and separated on the line).
    born = feed(counter, "a", [101, 103, 108, 120, 140, 120, 90])
    assert [(c.track_id, c.direction) for c in born] == [("a", 1)]
    assert born[0].point == (50.0, 101.0)  # dated where it was first seen
    assert [c.direction for c in feed(counter, "b", [99, 96, 90, 70])] == [-1]
    # Born on the line's extension beyond the segment, or noise that never leaves the band: nothing.
    assert feed(counter, "c", [100, 110, 130], x=400.0) == []
    assert feed(counter, "d", [100, 97, 103, 99]) == []
    # Unconfirmed while it was born on the line and left: held until confirmation, as any crossing.
    assert [c.frame for c in feed(counter, "e", [100, 110, 120, 130], confirmed_from=3)] == [1]


def test_a_crossing_beyond_the_segment_ends_is_not_counted():
    short = LineSpec("S", (0.0, 100.0), (100.0, 100.0))
    counter = LineCounter([short], band=5)
    assert feed(counter, "a", [80, 120], x=150.0) == []
    assert len(feed(counter, "b", [80, 120], x=60.0)) == 1


def test_a_vehicle_split_into_two_boxes_counts_once():
    counter = LineCounter([LINE], band=5, duplicate_frames=3)
    out = []
    for i, y in enumerate([80, 90, 110, 120]):
        out += counter.update("front", (50, y + 10), i, confirmed=True, label="car", box=(30, y - 5, 70, y + 25))
        out += counter.update("rear", (50, y - 10), i, confirmed=True, label="car", box=(30, y - 25, 70, y + 5))
    assert len(out) == 1
    # Two vehicles side by side (boxes apart) both count.
    counter = LineCounter([LINE], band=5)
    out = []
    for i, y in enumerate([80, 90, 110, 120]):
        out += counter.update("left", (40, y), i, confirmed=True, label="car", box=(20, y - 15, 60, y + 15))
        out += counter.update("right", (120, y), i, confirmed=True, label="car", box=(100, y - 15, 140, y + 15))
    assert len(out) == 2


def test_wrong_way_crossings_are_flagged():
    one_way = LineSpec("oneway", (0.0, 100.0), (200.0, 100.0), wrong_way=-1)
    counter = LineCounter([one_way], band=5)
    assert [c.wrong_way for c in feed(counter, "ok", [80, 120])] == [False]
    assert [c.wrong_way for c in feed(counter, "bad", [120, 80])] == [True]


def test_several_lines_are_independent():
    vertical = LineSpec("V", (100.0, 0.0), (100.0, 200.0))
    counter = LineCounter([LINE, vertical], band=5)
    out = []
    for i, (x, y) in enumerate([(80, 80), (90, 90), (110, 110), (120, 120)]):
        out += counter.update("a", (x, y), i, confirmed=True, label="car")
    assert sorted((c.line, c.direction) for c in out) == [("L", 1), ("V", -1)]
    assert vertical.image_direction(-1) == "right"


def test_born_on_the_line_survives_a_checkpoint():
    counter = LineCounter([LINE], band=5)
    feed(counter, "a", [101])
    resumed = LineCounter([LINE], band=5)
    resumed.restore_state("a", counter.state_of("a"))
    assert [c.direction for c in feed(resumed, "a", [110, 130], start=1)] == [1]
    # A checkpoint written before the counter knew of births on the line: the track was seen already.
    old = {k: v for k, v in counter.state_of("a")["L"].items() if k not in ("seen", "born_on")}
    legacy = LineCounter([LINE], band=5)
    legacy.restore_state("a", {"L": old})
    assert feed(legacy, "a", [110, 130], start=1) == []
