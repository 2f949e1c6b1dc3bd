"""Metric functions, tested against hand-computed cases in tests/ml/metrics/."""

from ml.metrics.anomaly import (
    f1_at_threshold,
    pixel_roc_auc,
    precision_recall_at,
    roc_auc,
    threshold_curve,
    threshold_for_false_reject_rate,
)
from ml.metrics.classification import accuracy, confusion_matrix, macro_f1

__all__ = (
    "accuracy",
    "confusion_matrix",
    "f1_at_threshold",
    "macro_f1",
    "pixel_roc_auc",
    "precision_recall_at",
    "roc_auc",
    "threshold_curve",
    "threshold_for_false_reject_rate",
)
