"""The traffic.detector family's ML side: train a YOLO on labelled frames (offline, from its yaml), measure mAP50
on the held-out split, load the weights as a detector."""

from pathlib import Path

import cv2
import pytest

from ml.core import ConfigError
from ml.device import select_device
from ml.traffic import read_frames
from ml.traffic.detection import Detection
from ml.traffic.synthetic import default_vehicles, make_road_video, vehicle_box
from ml.traffic.yolo import YoloPredictor, YoloTrainConfig, prepare_dataset, train


def labelled_frames(root: Path) -> Path:
    """YOLO-format labelled frames from a synthetic road video, whose boxes are known exactly."""
    for split in ("train", "val"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
    make_road_video(root / "road.mp4", frames=48, fps=15, seed=0)
    vehicles = default_vehicles(48)
    for i, frame in read_frames(root / "road.mp4"):
        if i % 3:
            continue
        split = "val" if i % 4 == 0 else "train"
        cv2.imwrite(str(root / split / "images" / f"{i}.jpg"), frame)
        rows = []
        for v in vehicles:
            box = vehicle_box(v, i, width=320, height=240, lanes=4)
            if box is None:
                continue
            x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(320, box[2]), min(240, box[3])
            if x2 - x1 >= 4 and y2 - y1 >= 4:
                rows.append(f"0 {(x1 + x2) / 640:.4f} {(y1 + y2) / 480:.4f} {(x2 - x1) / 320:.4f} {(y2 - y1) / 240:.4f}")
        (root / split / "labels" / f"{i}.txt").write_text("\n".join(rows))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: train/images\nval: val/images\nnames:\n  0: car\n")
    return root / "data.yaml"


def test_trains_offline_reports_map50_on_the_held_out_split_and_loads_as_a_detector(tmp_path):
    data = labelled_frames(tmp_path / "ds")
    config = YoloTrainConfig(dataset=str(data), epochs=1, imgsz=64, batch=4)
    dataset, snapshot = prepare_dataset(config)
    assert snapshot["images"]["train"] > 0 and snapshot["images"]["val"] > 0
    seen = []
    trained = train(dataset, config, lambda p, stage, metrics=None: seen.append((p, stage)), select_device("cpu"))
    assert 0.0 <= trained.metrics["mAP50"] <= 1.0 and "mAP50_95" in trained.metrics
    assert seen and seen[-1][0] == 100.0
    weights = tmp_path / "detector.pt"
    trained.save(weights)
    predictor = YoloPredictor.load(weights, select_device("cpu"))
    assert predictor.detector.classifies
    frame = cv2.imread(str(next((tmp_path / "ds" / "val" / "images").iterdir())))
    [detections] = predictor.predict_batch([frame])
    assert all(isinstance(d, Detection) and d.label == "car" for d in detections)


def test_a_dataset_is_required_and_needs_a_val_split(tmp_path):
    with pytest.raises(ConfigError, match="dataset"):
        prepare_dataset(YoloTrainConfig())
    (tmp_path / "data.yaml").write_text("train: images\nnames: {0: car}\n")
    with pytest.raises(ConfigError, match="val"):
        prepare_dataset(YoloTrainConfig(dataset=str(tmp_path / "data.yaml")))


def test_files_that_are_not_yolo_weights_do_not_load(tmp_path):
    bogus = tmp_path / "weights.pt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="YOLO"):
        YoloPredictor.load(bogus)
