"""The low-frame-rate tracker, the contrast test of the motion detector, and the counter's duplicate rule."""

import numpy as np
import pytest

from ml.traffic import LineSpec, TrafficPipeline, default_detector, probe_video, process_video
from ml.traffic.counting import LineCounter
from ml.traffic.detection import BackgroundSubtractionConfig, BackgroundSubtractionDetector, Detection
from ml.traffic.synthetic import SyntheticVehicle, make_road_video
from ml.traffic.tracking import MotionTracker

pytest.importorskip("cv2")


def box_at(x: float, y: float, w: float = 30, h: float = 16) -> tuple[float, float, float, float]:
    return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def test_a_vehicle_moving_more_than_its_length_per_frame_keeps_one_track():
    tracker = MotionTracker(fps=3)
    ids = set()
    for i in range(8):  # 40 px a frame, a 30-px vehicle: consecutive boxes never overlap
        out = tracker.update([Detection(box_at(600 - 40 * i, 100), 0.9)])
        assert len(out) == 1
        ids.add(out[0].track_id)
    assert len(ids) == 1


def test_a_new_track_borrows_the_motion_of_its_lane_neighbours():
    """A car entering behind another in the same lane, 40 px per frame: from its second frame it is predicted
    where the neighbour's motion takes it, not left behind at its first position where the next car appears."""
    tracker = MotionTracker(fps=3)
    lead = [Detection(box_at(500 - 40 * i, 100), 0.9) for i in range(6)]
    for i in range(4):
        tracker.update([lead[i]])
    # A second vehicle appears 80 px behind the lead (frame 4) and moves on 38 px, while a third appears 12 px
    # from where the second was first seen: nearest-position matching would take the third for the second.
    first = tracker.update([lead[4], Detection(box_at(420, 100), 0.9)])
    newcomer = next(t.track_id for t in first if t.box[0] > 400)
    second = tracker.update([lead[5], Detection(box_at(382, 100), 0.9), Detection(box_at(432, 100), 0.9)])
    follower = next(t for t in second if t.track_id == newcomer)
    assert follower.box == box_at(382, 100)


def test_a_blob_of_two_merged_vehicles_is_split_between_their_tracks():
    tracker = MotionTracker(fps=3)
    for i in range(4):  # two cars side by side in adjacent lanes
        tracker.update([Detection(box_at(500 - 30 * i, 100), 0.9), Detection(box_at(500 - 30 * i, 124), 0.9)])
    # Next frame they touch and come as one blob covering both.
    x = 500 - 30 * 4
    merged = Detection((x - 15, 92, x + 15, 132), 0.9)
    out = tracker.update([merged])
    assert len(out) == 2 and len({t.track_id for t in out}) == 2
    centres = sorted((b.box[1] + b.box[3]) / 2 for b in out)
    assert centres[0] < 112 < centres[1]


def test_a_vehicle_seen_alone_once_keeps_its_track_when_the_blob_merges_again():
    """Two cars in adjacent lanes enter merged, show apart for one frame (the newcomer's track is one frame old,
    predicted with its neighbour's motion) and merge again: the blob is split, the newcomer's track goes on."""
    tracker = MotionTracker(fps=3)
    for i in range(4):
        tracker.update([Detection((485 - 30 * i, 92, 515 - 30 * i, 132), 0.9)])
    apart = tracker.update([Detection(box_at(380, 100), 0.9), Detection(box_at(380, 124), 0.9)])
    assert len({t.track_id for t in apart}) == 2
    merged = tracker.update([Detection((335, 92, 365, 132), 0.9)])
    assert {t.track_id for t in merged} == {t.track_id for t in apart}


def test_specks_inside_a_large_blob_do_not_cut_it_up():
    tracker = MotionTracker(fps=25)
    for i in range(4):  # two tiny noise tracks drifting with a large vehicle
        tracker.update([Detection(box_at(100 + 2 * i, 100, 6, 6), 0.9), Detection(box_at(110 + 2 * i, 110, 6, 6), 0.9)])
    out = tracker.update([Detection((60, 60, 200, 160), 0.9)])
    assert len(out) == 1 and out[0].box == (60, 60, 200, 160)


def test_a_vehicle_following_another_in_its_lane_is_counted_where_a_split_vehicle_is_not():
    line = LineSpec("L", (50, 0), (50, 200))
    counter = LineCounter([line], band=3)
    out = []
    # Two cars one behind the other, 30 px apart, 25 px per frame: the second crosses at the first's spot a frame later.
    for i in range(6):
        out += counter.update("a", (90 - 25 * i, 100), i, confirmed=True, label="car", box=box_at(90 - 25 * i, 100, 24))
        out += counter.update("b", (120 - 25 * i, 100), i, confirmed=True, label="car", box=box_at(120 - 25 * i, 100, 24))
    assert len(out) == 2


def test_the_contrast_test_finds_a_grey_car_that_the_mixture_model_calls_background():
    """A light road and a dense stream of grey cars: MOG2 learns grey as one of the road's modes. The contrast
    test against the background image still finds a grey car."""
    rng = np.random.default_rng(0)
    road = np.full((120, 160, 3), 170, np.uint8)

    def frame(grey_at: list[int]) -> np.ndarray:
        f = road.copy()
        for x in grey_at:
            f[50:66, x : x + 24] = 120
        return np.clip(f.astype(int) + rng.integers(-2, 3, f.shape), 0, 255).astype(np.uint8)

    def detector(contrast: bool) -> BackgroundSubtractionDetector:
        return BackgroundSubtractionDetector(BackgroundSubtractionConfig(contrast=contrast, min_area_fraction=0.005))

    found = {}
    for contrast in (False, True):
        d = detector(contrast)
        for i in range(120):  # grey cars cover the lane's pixels two frames in five
            d.detect(frame([(i * 13) % 160] if i % 5 < 2 else []))
        found[contrast] = d.detect(frame([60]))
    assert any(abs((b.box[0] + b.box[2]) / 2 - 72) < 12 for b in found[True])


def test_the_ghost_a_stopped_vehicle_leaves_is_not_a_wrong_way_driver(tmp_path):
    path = tmp_path / "stop.mp4"
    truth = make_road_video(path, frames=100, fps=15, vehicles=[SyntheticVehicle(lane=3, start_frame=2, speed_px=8, stop_at_y=60, stop_frames=60)])
    info = probe_video(path)
    line = LineSpec("mid", (0, truth.line_y), (truth.width, truth.line_y), wrong_way=-1)
    pipeline = TrafficPipeline(detector=default_detector(), lines=[line], fps=info.fps, frame_size=(info.width, info.height))
    crossings = [c for r in process_video(path, pipeline) for c in r.crossings]
    assert [c.direction for c in crossings] == [1]  # it drives off down; nothing comes "up" out of its spot


def test_a_shaking_camera_is_steadied_before_background_subtraction():
    """A textured static scene that now and then jumps a few pixels: without stabilisation its edges are
    foreground in the jumped frames; with it, nothing moves."""
    # A grey road with light lane markings and a dark kerb: the shake shows as slivers along their edges.
    scene = np.full((140, 200, 3), 110, np.uint8)
    for x in (40, 80, 120, 160):
        for y in (10, 60, 110):
            scene[y : y + 25, x : x + 5] = 230
    scene[:, 185:195] = 30

    def shot(i: int) -> np.ndarray:
        dx, dy = (3, 2) if i % 10 == 9 else (0, 0)
        return scene[10 + dy : 130 + dy, 10 + dx : 190 + dx].copy()

    counts = {}
    for stabilise in (False, True):
        d = BackgroundSubtractionDetector(BackgroundSubtractionConfig(stabilise=stabilise))
        counts[stabilise] = sum(len(d.detect(shot(i))) for i in range(80))
    assert counts[True] == 0 < counts[False]
