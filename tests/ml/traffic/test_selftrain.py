"""Self-training: the motion pipeline's confident tracks of a synthetic road (whose boxes are known exactly) become a
YOLO dataset; what it is unsure of is painted out or dropped; counts judge a detector on held-out frames."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from ml.core import ConfigError
from ml.traffic import VEHICLE_CLASSES, LineSpec
from ml.traffic.detection import BackgroundSubtractionDetector
from ml.traffic.selftrain import Footage, HarvestConfig, HarvestError, HeldOut, abs_error, compare_counting, count_crossings, harvest
from ml.traffic.synthetic import SyntheticVehicle, default_vehicles, make_road_video, vehicle_box
from ml.traffic.yolo import YoloTrainConfig, footage_epochs, footage_imgsz

FRAMES = 120
ROAD = np.array([95, 100, 95])  # the synthetic road's BGR
# A vehicle too fast to be tracked for long (60 px a frame: on screen for five frames): the motion pipeline is never
# sure of it, and it must not stay in a training image unlabelled.
FAST = SyntheticVehicle(lane=1, start_frame=40, speed_px=60, colour=(0, 0, 255))


@pytest.fixture(scope="module")
def road(tmp_path_factory):
    path = tmp_path_factory.mktemp("road") / "road.mp4"
    vehicles = [*default_vehicles(FRAMES), FAST]
    make_road_video(path, frames=FRAMES, fps=15, vehicles=vehicles, seed=4)
    return path, vehicles


@pytest.fixture(scope="module")
def harvested(road, tmp_path_factory):
    path, _ = road
    out = tmp_path_factory.mktemp("ds")
    return out, harvest([Footage(str(path), round(FRAMES * 0.8))], out, HarvestConfig(mask="background"))


def _labels(out: Path, split: str) -> dict[int, list[tuple[int, tuple[float, float, float, float]]]]:
    """Frame → [(class, box in pixels)] of a harvested split."""
    result = {}
    for label in sorted((out / "labels" / split).glob("*.txt")):
        rows = []
        for line in label.read_text().split("\n"):
            if line.strip():
                c, x, y, w, h = (float(v) for v in line.split())
                rows.append((int(c), ((x - w / 2) * 320, (y - h / 2) * 240, (x + w / 2) * 320, (y + h / 2) * 240)))
        result[int(label.stem.split("_")[1])] = rows
    return result


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_confident_tracks_become_labels_on_true_vehicles_split_by_time(road, harvested):
    _, vehicles = road
    out, result = harvested
    spec = yaml.safe_load((out / "data.yaml").read_text())
    assert spec["names"] == dict(enumerate(VEHICLE_CLASSES)) and spec["train"] == "images/train" and spec["val"] == "images/val"
    train, val = _labels(out, "train"), _labels(out, "val")
    assert result.images == {"train": len(train), "val": len(val)} and result.boxes["val"] > 0
    assert sum(result.boxes.values()) >= 20 and result.tracks["confident"] >= 4
    # The validation frames come after every training frame (and from the part harvested: the first 80 %).
    assert max(train) < min(val) and max(val) < FRAMES * 0.8
    # Every label is a real vehicle, fully inside the frame, boxed tightly enough to train on.
    for frame, rows in {**train, **val}.items():
        truth = [b for v in vehicles if (b := vehicle_box(v, frame, width=320, height=240, lanes=4)) is not None]
        for cls, box in rows:
            assert 0 <= cls < len(VEHICLE_CLASSES)
            assert 0 < box[0] and 0 < box[1] and box[2] < 320 and box[3] < 240
            assert max(_iou(box, t) for t in truth) > 0.4, (frame, box, truth)


def test_vehicles_it_is_unsure_of_are_painted_with_the_empty_road(road, harvested):
    out, _ = harvested
    checked = 0
    for image in (out / "images").rglob("*.jpg"):
        frame = int(image.stem.split("_")[1])
        box = vehicle_box(FAST, frame, width=320, height=240, lanes=4)
        if box is None or box[1] < 0 or box[3] > 240:
            continue
        pixels = cv2.imread(str(image))[box[1] + 4 : box[3] - 4, box[0] + 4 : box[2] - 4].reshape(-1, 3)
        assert np.abs(pixels.mean(axis=0) - ROAD).max() < 15, f"the fast red vehicle is still in frame {frame}"
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("mask", ["gray", "drop"])
def test_grey_paints_and_drop_leaves_out_frames_with_unsure_vehicles(road, tmp_path, mask):
    path, _ = road
    result = harvest([Footage(str(path), round(FRAMES * 0.8))], tmp_path, HarvestConfig(mask=mask, min_labels=1))
    frames = {int(p.stem.split("_")[1]): p for p in (tmp_path / "images").rglob("*.jpg")}
    fast_frames = [f for f in frames if (b := vehicle_box(FAST, f, width=320, height=240, lanes=4)) is not None and 0 <= b[1] and b[3] <= 240]
    if mask == "drop":
        assert result.dropped_frames > 0 and not fast_frames
    else:
        assert fast_frames
        for frame in fast_frames:
            box = vehicle_box(FAST, frame, width=320, height=240, lanes=4)
            pixels = cv2.imread(str(frames[frame]))[box[1] + 4 : box[3] - 4, box[0] + 4 : box[2] - 4]
            assert abs(float(pixels.mean()) - 114) < 12


def test_the_harvest_is_bounded(road, tmp_path):
    path, _ = road
    result = harvest([Footage(str(path))], tmp_path, HarvestConfig(max_frames=10, min_labels=1))
    assert result.sampled_every >= FRAMES // 10 and sum(result.images.values()) <= 10
    assert not (tmp_path / "staging").exists()
    written = sum(p.stat().st_size for p in tmp_path.rglob("*.jpg"))
    assert written <= result.bytes_written


def test_footage_with_too_few_vehicles_is_a_clear_error(tmp_path):
    path = tmp_path / "quiet.mp4"
    make_road_video(path, frames=60, fps=15, vehicles=[SyntheticVehicle(lane=0, start_frame=5, speed_px=8)])
    with pytest.raises(HarvestError, match="Process longer recordings"):
        harvest([Footage(str(path))], tmp_path / "ds")
    with pytest.raises(HarvestError, match="no footage"):
        harvest([], tmp_path / "ds")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(HarvestError, match="broken.mp4 cannot be read"):
        harvest([Footage(str(broken))], tmp_path / "ds")


def test_counting_a_frame_range_and_comparing_detectors(road):
    path, vehicles = road
    line = LineSpec("l", (0.0, 120.0), (320.0, 120.0))
    counted, frames, _ = count_crossings(path, BackgroundSubtractionDetector(), [line])
    assert frames == FRAMES and sum(counted.values()) > 0
    later, frames, _ = count_crossings(path, BackgroundSubtractionDetector(), [line], start_frame=60)
    assert frames == FRAMES - 60 and sum(later.values()) < sum(counted.values())
    assert abs_error({("l", 1): 3, ("l", -1): 1}, {("l", 1): 2, ("m", 1): 4}) == 1 + 1 + 4
    comparison = compare_counting(BackgroundSubtractionDetector, [HeldOut(str(path), 60, None, counted), HeldOut(str(path), 60)], [line])
    metrics = comparison["metrics"]
    # The same detector on both sides: the same counts, and on the item with truth its error against the whole video's counts.
    assert metrics["heldout_count_yolo"] == metrics["heldout_count_motion"] == 2 * sum(later.values())
    assert metrics["reviewed_items"] == 1 and metrics["reviewed_abs_error_yolo"] == metrics["reviewed_abs_error_motion"] == abs_error(later, counted)
    assert len(comparison["items"]) == 2 and "expected" in comparison["items"][0] and "expected" not in comparison["items"][1]
    # A line the truth does not cover (drawn after the review) is not judged; one it covers with no crossing is.
    other = LineSpec("new", (0.0, 60.0), (320.0, 60.0))
    on_other, _, _ = count_crossings(path, BackgroundSubtractionDetector(), [other], start_frame=60)
    assert sum(on_other.values()) > 0
    held_out = [HeldOut(str(path), 60, None, counted, judged_lines=frozenset({"l"})), HeldOut(str(path), 60, None, counted, judged_lines=None)]
    judged = compare_counting(BackgroundSubtractionDetector, held_out, [line, other])
    errors = [item["motion_abs_error"] for item in judged["items"]]
    assert errors == [abs_error(later, counted), abs_error(later, counted) + sum(on_other.values())]


def test_footage_defaults_fit_the_frames_and_the_data():
    assert [footage_imgsz(size) for size in ((320, 240), (1280, 720), (1920, 1080), (3840, 2160))] == [320, 320, 480, 640]
    assert footage_epochs(29) == 75 and footage_epochs(480) == 10 and footage_epochs(1) == 100
    with pytest.raises(ConfigError, match="either dataset"):
        YoloTrainConfig.from_dict({"dataset": "data.yaml", "footage": ["a.mp4"]})
    with pytest.raises(ConfigError, match="harvest_mask"):
        YoloTrainConfig.from_dict({"footage": ["a.mp4"], "harvest_mask": "blur"})
    with pytest.raises(ConfigError, match="footage_end_fraction"):
        YoloTrainConfig.from_dict({"footage": ["a.mp4"], "footage_end_fraction": 0})
