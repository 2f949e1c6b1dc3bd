from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_labels(y_true: Sequence[int], y_pred: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D and the same length, got {t.shape} and {p.shape}")
    if t.size == 0:
        raise ValueError("cannot score an empty set")
    if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(p.dtype, np.integer)):
        raise ValueError("labels must be integer class indices")
    if t.min() < 0 or p.min() < 0:
        raise ValueError("labels must be non-negative class indices")
    return t.astype(np.int64), p.astype(np.int64)


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    t, p = _as_labels(y_true, y_pred)
    return float((t == p).mean())


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int | None = None) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    t, p = _as_labels(y_true, y_pred)
    largest = int(max(t.max(), p.max()))
    if n_classes is not None and largest >= n_classes:
        raise ValueError(f"label {largest} is out of range for n_classes={n_classes}")
    n = n_classes if n_classes is not None else largest + 1
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (t, p), 1)
    return matrix


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int | None = None) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``y_true`` or ``y_pred``.

    A class with no true and no predicted samples is left out (it has no F1), as scikit-learn does when
    ``labels`` is not given.
    """
    matrix = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    present = (predicted + actual) > 0
    denom = predicted + actual
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[present].mean())
