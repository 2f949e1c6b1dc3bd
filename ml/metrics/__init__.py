"""Metric functions, tested against hand-computed cases in tests/ml/metrics/."""

from ml.metrics.classification import accuracy, confusion_matrix, macro_f1

__all__ = ("accuracy", "confusion_matrix", "macro_f1")
