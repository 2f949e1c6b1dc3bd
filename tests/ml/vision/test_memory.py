"""The inspection trainers' predicted peak memory, from image headers and the config."""

import io

import numpy as np
import pytest
from PIL import Image

from ml.memory import MIB, MemoryBudgetExceeded
from ml.vision import AnomalyConfig, AnomalyDataset, ClassifierConfig, ClassifierDataset, anomaly_memory_estimate, classifier_memory_estimate
from ml.vision.backbone import LazyImage, encoded_bytes, image_pixels


def _png(height: int, width: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((height, width), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_pixels_reads_the_header_and_tolerates_garbage(tmp_path):
    path = tmp_path / "part.png"
    path.write_bytes(_png(300, 200))
    assert image_pixels(_png(300, 200)) == image_pixels(path) == image_pixels(np.zeros((300, 200))) == 60_000
    assert image_pixels(b"not an image") == 0 and image_pixels(object()) == 0
    lazy = LazyImage(path.read_bytes, "part.png")
    assert image_pixels(lazy) == 60_000 and encoded_bytes([lazy, _png(10, 10)]) == len(_png(10, 10))  # a lazy image holds no bytes


def _anomaly(n: int, side: int = 256) -> AnomalyDataset:
    image = _png(side, side)
    return AnomalyDataset(
        train_good=[image] * n, calibration_good=[image] * 4, validation=[image] * 8, validation_labels=[0, 1] * 4, validation_masks=[None] * 8
    )


def test_the_anomaly_estimate_is_bounded_in_good_images_and_grows_with_resolution():
    # Training streams the good images a batch at a time into a sample of at most coreset_candidates patch rows.
    small, large = anomaly_memory_estimate(AnomalyConfig(), _anomaly(1000)), anomaly_memory_estimate(AnomalyConfig(), _anomaly(4000))
    assert large.parts["memory-bank patch features"] == small.parts["memory-bank patch features"] < 400 * MIB  # 60,000 rows × 344 × 4 B, 3 copies at the peak
    assert large.parts["scorer fit"] == small.parts["scorer fit"] and large.parts["decoded images"] == small.parts["decoded images"]
    assert large.parts["segmentation head samples"] == small.parts["segmentation head samples"]  # capped by head_samples
    # The coarse map's sample is capped too (30,000 rows of 64 an image: reached by 750 memory-bank images).
    assert large.parts["coarse map bank"] == small.parts["coarse map bank"] > anomaly_memory_estimate(AnomalyConfig(), _anomaly(400)).parts["coarse map bank"]
    # Only a few kB per good image remain (whole-image features, per-position score maps; bytes given in memory).
    assert 0 < large.peak_bytes - small.peak_bytes < 3000 * 20_000
    # Below the sample's cap the bank part follows the patches: 4x the pixels, 4x the rows.
    roomy = dict(coreset_candidates=10**6)
    base = anomaly_memory_estimate(AnomalyConfig(**roomy), _anomaly(40))
    sharper = anomaly_memory_estimate(AnomalyConfig(image_height=512, image_width=512, **roomy), _anomaly(40))
    assert sharper.parts["memory-bank patch features"] == pytest.approx(4 * base.parts["memory-bank patch features"])
    assert anomaly_memory_estimate(AnomalyConfig(image_height=512, image_width=512), _anomaly(40)).peak_bytes > small.peak_bytes
    bigger_photos = anomaly_memory_estimate(AnomalyConfig(), _anomaly(40, side=1024))
    assert bigger_photos.parts["decoded images"] > 10 * base.parts["decoded images"]
    # Without the segmentation head (or the whole-image Gaussian) those parts are not counted.
    lean = anomaly_memory_estimate(AnomalyConfig(head_weight=0, global_weight=0), _anomaly(40))
    assert "segmentation head samples" not in lean.parts and "whole-image Gaussian" not in lean.parts
    # Masks on the validation images: the pixel AUROC ranks every one of their pixels.
    masked = _anomaly(40)
    masked.validation_masks = [_png(256, 256)] * 4 + [None] * 4
    assert anomaly_memory_estimate(AnomalyConfig(), masked).parts["pixel AUROC"] == 4 * 256 * 256 * 80 and "pixel AUROC" not in small.parts
    gaussian = anomaly_memory_estimate(AnomalyConfig(method="gaussian"), _anomaly(4000))
    assert gaussian.parts["memory-bank patch features"] < 200 * MIB


def test_the_classifier_estimate_grows_with_images():
    image = _png(256, 256)
    dataset = lambda n: ClassifierDataset(classes=["ok", "scratch"], train_items=[image] * n, train_labels=[0, 1] * (n // 2))  # noqa: E731
    small, large = classifier_memory_estimate(ClassifierConfig(), dataset(20)), classifier_memory_estimate(ClassifierConfig(), dataset(2000))
    assert large.parts["pooled features"] == 100 * small.parts["pooled features"] and large.peak_bytes > small.peak_bytes
    no_flips = classifier_memory_estimate(ClassifierConfig(flip_augment=False), dataset(2000))
    assert no_flips.parts["pooled features"] < large.parts["pooled features"]


def test_a_small_limit_refuses_both():
    with pytest.raises(MemoryBudgetExceeded, match="image_height/image_width"):
        anomaly_memory_estimate(AnomalyConfig(), _anomaly(40)).check(128 * MIB, "Training inspection.anomaly")
    dataset = ClassifierDataset(classes=["ok", "dent"], train_items=[_png(64, 64)] * 4, train_labels=[0, 1, 0, 1])
    with pytest.raises(MemoryBudgetExceeded, match="flip_augment"):
        classifier_memory_estimate(ClassifierConfig(), dataset).check(128 * MIB, "Training inspection.defect_type")
