"""The whole pipeline on small synthetic road videos (drawn here: the real clips are for the benchmark)."""

from pathlib import Path

import pytest

from ml.traffic import LineSpec, TrafficPipeline, VideoError, default_detector, probe_video, process_video
from ml.traffic.synthetic import SyntheticVehicle, make_road_video


@pytest.fixture(scope="module")
def road(tmp_path_factory):
    path = tmp_path_factory.mktemp("road") / "road.mp4"
    truth = make_road_video(path, frames=110, fps=15, seed=1)
    return path, truth


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
    pipeline, results = run(path, truth, annotated=annotated)
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
