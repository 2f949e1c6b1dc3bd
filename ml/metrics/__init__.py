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
from ml.metrics.ranking import (
    average_precision_at_k,
    catalog_coverage,
    ndcg_at_k,
    popularity_bias,
    precision_at_k,
    ranking_report,
    ranking_report_arrays,
    recall_at_k,
)

__all__ = (
    "accuracy",
    "average_precision_at_k",
    "catalog_coverage",
    "confusion_matrix",
    "f1_at_threshold",
    "macro_f1",
    "ndcg_at_k",
    "pixel_roc_auc",
    "popularity_bias",
    "precision_at_k",
    "precision_recall_at",
    "ranking_report",
    "ranking_report_arrays",
    "recall_at_k",
    "roc_auc",
    "threshold_curve",
    "threshold_for_false_reject_rate",
)
