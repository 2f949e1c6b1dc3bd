"""The whole pipeline on small synthetic road videos (drawn here: the real clips are for the benchmark)."""

from pathlib import Path

import pytest

from ml.traffic import LineSpec, TrafficPipeline, VideoError, default_detector, probe_video, process_video
from ml.traffic.synthetic import SyntheticVehicle, default_vehicles, make_road_video


@pytest.fixture(scope="module")
def road(tmp_path_factory):
    path = tmp_path_factory.mktemp("road") / "road.mp4"
    truth = make_road_video(path, frames=110, fps=15, seed=1)
    return path, truth


def crash_and_resume(path, pipeline, checkpoint):
    """A run (keys ``a1-``) that crashes after frame ``checkpoint - 1`` and the attempt (keys ``a2-``) that resumes
    from its snapshot, stored as JSON like the job row does: (first results, resumed results, snapshot)."""
    import json

    first, crashed = [], pipeline("a1-")
    for result in process_video(path, crashed):
        first.append(result)
        if result.frame == checkpoint - 1:
            state = json.loads(json.dumps(crashed.snapshot()))
            break
    second = list(process_video(path, pipeline("a2-"), start_frame=checkpoint, resume_state=state))
    return first, second, state


def run(path, truth, *, start=0, end=None, annotated=None, lines=None):
    info = probe_video(path)
    lines = lines or [LineSpec("mid", (0, truth.line_y), (truth.width, truth.line_y))]
    pipeline = TrafficPipeline(detector=default_detector(), lines=lines, fps=info.fps, frame_size=(info.width, info.height), track_prefix=f"s{start}-")
    results = list(process_video(path, pipeline, start_frame=start, end_frame=end, annotated_path=annotated))
    return pipeline, results


def test_counts_every_vehicle_once_per_direction(road, tmp_path):
    path, truth = road
    assert truth.down >= 2 and truth.up >= 2
    annotated = tmp_path / "annotated.mp4"
    info = probe_video(path)
    line = LineSpec("mid", (0, truth.line_y), (truth.width, truth.line_y))
    pipeline = TrafficPipeline(detector=default_detector(), lines=[line], fps=info.fps, frame_size=(info.width, info.height))
    results, orphans = [], set()
    for result in process_video(path, pipeline, annotated_path=annotated):
        results.append(result)
        # Tracker ids of closed tracks are dropped as they close (a stream session runs for days).
        orphans |= set(pipeline._id_map.values()) - set(pipeline._tracks)
    assert not orphans and not pipeline._id_map
    crossings = [c for r in results for c in r.crossings]
    assert sum(c.direction == 1 for c in crossings) == truth.down
    assert sum(c.direction == -1 for c in crossings) == truth.up
    assert len({c.track_id for c in crossings}) == len(crossings)
    tracks = [t for r in results for t in r.finished_tracks]
    assert {c.track_id for c in crossings} <= {t.track_id for t in tracks}
    assert all(t.label in ("car", "bus", "truck", "motorcycle", "bicycle", "person") for t in tracks)
    # The annotated copy is H.264 a browser plays, one frame per input frame.
    info = probe_video(annotated)
    assert info.codec in ("h264", "avc1") and info.frame_count == truth.frames


def test_resuming_from_a_checkpoint_neither_loses_nor_repeats_a_crossing(road):
    path, truth = road
    _, full = run(path, truth)
    all_frames = sorted(c.frame for r in full for c in r.crossings)
    checkpoint = (all_frames[1] + all_frames[2]) // 2  # between two crossings
    _, first = run(path, truth, end=checkpoint)
    _, second = run(path, truth, start=checkpoint)
    before = [c for r in first for c in r.crossings]
    after = [c for r in second for c in r.crossings]
    assert all(r.frame >= checkpoint for r in second[:-1])
    assert len(before) + len(after) == len(all_frames)
    assert sorted(c.direction for c in before + after) == sorted(c.direction for r in full for c in r.crossings)


def test_a_run_resumed_from_a_snapshot_ends_with_the_same_tracks_and_events(tmp_path):
    """A crash mid-video: the next attempt re-reads the warm-up and restores the snapshot taken at the checkpoint.
    A congestion and a stopped vehicle span the checkpoint; neither is raised twice, no vehicle gets a second
    track, and what a JSON round trip of the snapshot loses (it is stored in the database) changes nothing."""

    from ml.traffic import ZoneSpec

    path = tmp_path / "busy.mp4"
    vehicles = [*default_vehicles(140), SyntheticVehicle(lane=3, start_frame=2, speed_px=8, stop_at_y=60, stop_frames=90)]
    truth = make_road_video(path, frames=140, fps=15, vehicles=vehicles)
    info = probe_video(path)
    zones = [
        ZoneSpec("shoulder", ((200, 20), (320, 20), (320, 140), (200, 140)), kind="stopped_vehicle", min_seconds=2),
        ZoneSpec("road", ((0, 0), (320, 0), (320, 240), (0, 240)), kind="congestion", min_seconds=4, occupancy_threshold=2),
    ]
    line = LineSpec("mid", (0, truth.line_y), (truth.width, truth.line_y))

    def pipeline(prefix):
        return TrafficPipeline(detector=default_detector(), lines=[line], zones=zones, fps=info.fps, frame_size=(info.width, info.height), track_prefix=prefix)

    full = list(process_video(path, pipeline("a1-")))
    checkpoint = 75  # congestion raised at ~69 and still on; the stopped vehicle stands until ~100
    first, second, state = crash_and_resume(path, pipeline, checkpoint)
    resumed = first + second

    def events(results):
        return sorted((e.kind, e.frame) for r in results for e in r.events)

    def tracks(results):
        return [t for r in results for t in r.finished_tracks]

    def crossings(results):
        return sorted((c.frame, c.direction) for r in results for c in r.crossings)

    assert [k for k, _ in events(full)] == ["congestion", "stopped_vehicle", "stopped_vehicle"]
    assert [k for k, _ in events(resumed)] == [k for k, _ in events(full)]
    assert all(abs(a[1] - b[1]) <= 3 for a, b in zip(events(resumed), events(full), strict=True))
    # (Resumed or not, two of the eight are missed: the vehicle that drives off after standing still, whose
    # fragments the small closing sized for dense real traffic leaves apart here, and one more: known gaps.)
    assert crossings(resumed) == crossings(full) and len(crossings(full)) >= truth.down + truth.up - 2
    assert {c.track_id for r in resumed for c in r.crossings} <= {t.track_id for t in tracks(resumed)}
    keys = [t.track_id for t in tracks(resumed)]
    assert len(keys) == len(set(keys)) == len(tracks(full))
    assert sorted(t.first_frame for t in tracks(resumed)) == sorted(t.first_frame for t in tracks(full))
    # Tracks alive at the checkpoint keep their key, first frame and the path written before it.
    alive = {t["key"] for t in state["tracks"]}
    by_key = {t.track_id: t for t in tracks(full)}
    for t in tracks(resumed):
        if t.track_id in alive and t.track_id in by_key:
            assert t.first_frame == by_key[t.track_id].first_frame
            assert [p for p in t.path if p[0] < 60] == [p for p in by_key[t.track_id].path if p[0] < 60]


def test_a_stopped_vehicle_and_a_wrong_way_driver_raise_events(tmp_path):
    from ml.traffic import ZoneSpec

    path = tmp_path / "stop.mp4"
    vehicles = [
        SyntheticVehicle(lane=3, start_frame=2, speed_px=8, stop_at_y=60, stop_frames=60),
        SyntheticVehicle(lane=0, start_frame=5, speed_px=9),
    ]
    truth = make_road_video(path, frames=100, fps=15, vehicles=vehicles)
    zone = ZoneSpec("shoulder", ((200, 20), (320, 20), (320, 140), (200, 140)), kind="stopped_vehicle", min_seconds=2)
    info = probe_video(path)
    line = LineSpec("mid", (0, truth.line_y), (truth.width, truth.line_y), wrong_way=-1)
    pipeline = TrafficPipeline(detector=default_detector(), lines=[line], zones=[zone], fps=info.fps, frame_size=(info.width, info.height))
    events = [e for r in process_video(path, pipeline) for e in r.events]
    kinds = sorted(e.kind for e in events)
    assert kinds == ["stopped_vehicle", "wrong_way"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\x00\x01garbage" * 100, "not a video"), (b"ftypisom" + b"\x00" * 4000, "not a video")],
)
def test_unusable_files_are_rejected_with_a_reason(tmp_path: Path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=message):
        probe_video(path)


def test_yolo_detector_plugs_into_the_pipeline_offline(road):
    from ultralytics import YOLO

    from ml.traffic import YoloDetector

    path, truth = road
    detector = YoloDetector("yolo11n.yaml", model=YOLO("yolo11n.yaml"), imgsz=160)
    assert detector.classifies and "YOLO" in detector.description
    info = probe_video(path)
    pipeline = TrafficPipeline(detector=detector, lines=[LineSpec("m", (0, 120), (320, 120))], fps=info.fps, frame_size=(info.width, info.height))
    results = list(process_video(path, pipeline, end_frame=5))
    assert len(results) == 6  # five frames and the end-of-video result


def test_a_track_born_just_before_the_checkpoint_keeps_its_key(tmp_path):
    """The snapshot holds a track one frame old (a one-point path): the track the resumed run rebuilds from the
    warm-up video must take over its key, not start a second track for the vehicle before the checkpoint."""
    path = tmp_path / "long.mp4"
    truth = make_road_video(path, frames=200, fps=15, width=320, height=240, seed=4)
    info = probe_video(path)
    line = LineSpec("mid", (0, truth.line_y), (truth.width, truth.line_y))

    def pipeline(prefix):
        return TrafficPipeline(detector=default_detector(), lines=[line], fps=info.fps, frame_size=(info.width, info.height), track_prefix=prefix)

    full = list(process_video(path, pipeline("a1-")))
    births = sorted(t.first_frame for r in full for t in r.finished_tracks if t.first_frame > 60)
    assert births, "the video needs a vehicle appearing after the warm-up"
    checkpoint = births[0] + 1
    first, second, state = crash_and_resume(path, pipeline, checkpoint)
    assert any(len(t["path"]) == 1 for t in state["tracks"])
    assert not [t.track_id for r in second for t in r.finished_tracks if t.track_id.startswith("a2-") and t.first_frame < checkpoint]
    births_resumed = sorted(t.first_frame for r in first + second for t in r.finished_tracks)
    assert births_resumed == sorted(t.first_frame for r in full for t in r.finished_tracks)


class ScriptedDetector:
    """Replays the boxes given per frame (a stand-in for the detector only: tracker and pipeline are real)."""

    description = "scripted"
    classifies = True

    def __init__(self, boxes_per_frame):
        self.boxes_per_frame = boxes_per_frame
        self.index = 0

    def detect(self, frame):
        from ml.traffic.detection import Detection

        boxes = self.boxes_per_frame[self.index] if self.index < len(self.boxes_per_frame) else []
        self.index += 1
        return [Detection(b, 0.9, "car") for b in boxes]

    def reset(self):
        self.index = 0


@pytest.mark.parametrize(("size", "continued"), [((40, 30), True), ((8, 6), False)])
def test_a_lost_track_is_continued_only_by_a_box_of_its_size(size, continued):
    """A car is lost for a few frames; what appears where it was heading continues it only when it is of a size
    (a speck there — a marking edge in a camera pan, a fragment of another vehicle — starts its own track)."""
    import numpy as np

    car = [[(20.0 + 10 * i, 100.0, 60.0 + 10 * i, 130.0)] for i in range(8)]
    w, h = size
    after = [[(40.0 + 10 * i - w / 2, 115.0 - h / 2, 40.0 + 10 * i + w / 2, 115.0 + h / 2)] for i in range(12, 20)]
    pipeline = TrafficPipeline(detector=ScriptedDetector(car + [[]] * 4 + after), lines=[], fps=10.0, frame_size=(320, 240))
    frame = np.zeros((240, 320, 3), np.uint8)
    keys = [[key for key, _ in pipeline.process(i, frame).boxes] for i in range(20)]
    before, later = {k for ks in keys[:8] for k in ks}, {k for ks in keys[12:] for k in ks}
    assert len(before) == 1 and len(later) == 1
    assert (before == later) is continued
