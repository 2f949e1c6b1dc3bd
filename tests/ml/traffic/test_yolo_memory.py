"""The YOLO trainer's predicted peak memory: model scale, batch and image size."""

from pathlib import Path

import pytest

from ml.memory import GIB, MemoryBudgetExceeded
from ml.traffic.yolo import YoloDataset, YoloTrainConfig, memory_estimate, model_scale

DATA = YoloDataset(Path("data.yaml"), {"train": 400, "val": 50})


def test_the_scale_is_read_from_the_name_or_the_file_size(tmp_path):
    assert [model_scale(m) for m in ("yolo11n.yaml", "yolov8s.pt", "/w/yolo11x.pt")] == ["n", "s", "x"]
    weights = tmp_path / "detector.pt"
    weights.write_bytes(b"\0" * 2 * 20_000_000)  # float16: about 20 M parameters, an m
    assert model_scale(str(weights)) == "m" and model_scale(str(tmp_path / "missing.pt")) == "m"


def test_the_estimate_grows_with_scale_batch_and_image_size():
    base = memory_estimate(YoloTrainConfig(), DATA)
    assert memory_estimate(YoloTrainConfig(model="yolo11x.yaml"), DATA).peak_bytes > 3 * base.peak_bytes
    assert memory_estimate(YoloTrainConfig(batch=32), DATA).parts["training batch"] == 2 * base.parts["training batch"]
    assert memory_estimate(YoloTrainConfig(imgsz=1280), DATA).parts["training batch"] == pytest.approx(4 * base.parts["training batch"], rel=1e-6)
    # Mosaic's buffer stops at 8 batches of images, however large the dataset.
    big = memory_estimate(YoloTrainConfig(), YoloDataset(Path("data.yaml"), {"train": 100_000, "val": 50}))
    assert big.parts["mosaic buffer"] == base.parts["mosaic buffer"] == 16 * 8 * 640 * 640 * 3


def test_a_small_limit_refuses():
    with pytest.raises(MemoryBudgetExceeded, match="Lower batch or imgsz"):
        memory_estimate(YoloTrainConfig(), DATA).check(2 * GIB, "Training traffic.detector")
