"""Metric functions, tested against hand-computed cases in tests/ml/metrics/."""

from ml.metrics.classification import accuracy, confusion_matrix, macro_f1
from ml.metrics.retrieval import mean_reciprocal_rank, recall_at_k

__all__ = ("accuracy", "confusion_matrix", "macro_f1", "mean_reciprocal_rank", "recall_at_k")
