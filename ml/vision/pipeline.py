"""Anomaly score + heatmap and defect type for a batch of images, sharing one backbone pass when possible.

Both models read taps of the same EfficientNet-Lite0. When their input specs agree (size, intensity
normalisation, padding, aspect handling) the backbone runs once, up to the deepest block either needs, and each
model takes its own blocks from that pass; otherwise each runs its own pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ml.vision.anomaly import AnomalyPredictor
from ml.vision.backbone import feature_groups, input_spec, to_gray_array
from ml.vision.classifier import ClassifierPredictor


def shares_pass(anomaly: AnomalyPredictor, classifier: ClassifierPredictor) -> bool:
    return (
        anomaly.model.extractor.input_spec() == input_spec(classifier.config)
        and anomaly.model.config.backbone_weights == classifier.config.backbone_weights
        and anomaly.model.device == classifier.device
    )


def predict(
    anomaly: AnomalyPredictor, classifier: ClassifierPredictor | None, items: Sequence[Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any] | None]]:
    """``(anomaly results, type results)`` per item, as the two predictors' ``predict_batch`` would give them."""
    arrays = [to_gray_array(i) for i in items]
    if classifier is None:
        return anomaly.predict_batch(arrays), [None] * len(arrays)
    if not shares_pass(anomaly, classifier):
        return anomaly.predict_batch(arrays), list(classifier.predict_batch(arrays))
    model = anomaly.model
    extractor = model.extractor
    blocks = sorted(set(extractor.blocks) | set(classifier.config.blocks))
    scored: list[dict[str, Any]] = []
    typed: list[dict[str, Any] | None] = []
    for start in range(0, len(arrays), model.config.batch_size):
        chunk = arrays[start : start + model.config.batch_size]
        groups = feature_groups(extractor.backbone, chunk, blocks=blocks, device=model.device, **extractor.input_spec())
        heats: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(chunk)
        scores = np.zeros(len(chunk), np.float32)
        model.score_groups(groups, heats, scores)
        scored.extend(anomaly.results(chunk, heats, scores))
        typed.extend(classifier.probabilities_from_groups(groups, len(chunk)))
    return scored, typed
