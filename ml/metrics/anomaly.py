"""Anomaly-detection metrics: image AUROC, pixel AUROC against masks, F1 at a threshold, threshold calibration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _binary(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if t.shape != s.shape:
        raise ValueError(f"labels and scores must have the same length, got {t.size} and {s.size}")
    if t.size == 0:
        raise ValueError("cannot score an empty set")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("labels must be 0 (good) or 1 (defective)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers")
    return t.astype(bool), s


def roc_auc(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random negative.

    Ties count one half (the Mann–Whitney U statistic with average ranks), as scikit-learn's ``roc_auc_score``.
    """
    from scipy.stats import rankdata

    t, s = _binary(y_true, scores)
    n_pos = int(t.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs at least one positive and one negative")
    ranks = rankdata(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pixel_roc_auc(masks: Sequence[np.ndarray], heatmaps: Sequence[np.ndarray]) -> float:
    """AUROC over every pixel of every image: ``masks`` (nonzero = defect) against same-shaped ``heatmaps``."""
    if len(masks) != len(heatmaps):
        raise ValueError(f"got {len(masks)} masks and {len(heatmaps)} heatmaps")
    if len(masks) == 0:
        raise ValueError("cannot score an empty set")
    for i, (m, h) in enumerate(zip(masks, heatmaps, strict=True)):
        if np.shape(m) != np.shape(h):
            raise ValueError(f"mask {i} has shape {np.shape(m)} but its heatmap {np.shape(h)}")
    labels = np.concatenate([(np.asarray(m) > 0).ravel() for m in masks]).astype(np.uint8)
    values = np.concatenate([np.asarray(h, dtype=np.float32).ravel() for h in heatmaps])
    return roc_auc(labels, values)


def f1_at_threshold(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float) -> float:
    """F1 of the positive (defective) class when ``score >= threshold`` is predicted defective."""
    precision, recall = precision_recall_at(y_true, scores, threshold)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def precision_recall_at(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float) -> tuple[float, float]:
    t, s = _binary(y_true, scores)
    predicted = s >= threshold
    tp = int((predicted & t).sum())
    fp = int((predicted & ~t).sum())
    fn = int((~predicted & t).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall


def threshold_for_false_reject_rate(good_scores: Sequence[float] | np.ndarray, rate: float) -> float:
    """A threshold that rejects new good parts at no more than ``rate`` on average (score >= threshold rejects).

    Split-conformal rule: with n held-out good scores and a new good part exchangeable with them, a threshold
    just above the ``k``-th highest score rejects it with probability ``k / (n + 1)``; the largest ``k`` with
    ``k / (n + 1) <= rate`` is taken (at least 1: just above every score, when n is too small to resolve
    ``rate``, which then reaches about ``1 / (n + 1)``). The plain in-sample rule (just above the
    ``floor(rate * n) + 1``-th highest) overshoots: with 10 scores and rate 0.1 it rejects 2/11 of new good parts.
    """
    s = np.sort(np.asarray(good_scores, dtype=np.float64).ravel())[::-1]
    if s.size == 0:
        raise ValueError("need at least one good score to calibrate a threshold")
    if not 0 <= rate < 1:
        raise ValueError("the false-reject rate must be in [0, 1)")
    k = max(1, int(np.floor(rate * (s.size + 1) + 1e-9)))
    boundary = s[min(k, s.size) - 1]  # the lowest score that must pass
    return float(np.nextafter(boundary, np.inf))


def threshold_curve(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, points: int = 101) -> list[dict[str, float]]:
    """Precision, recall and false-reject rate at ``points`` thresholds spanning the scores (for a slider)."""
    t, s = _binary(y_true, scores)
    lo, hi = float(s.min()), float(s.max())
    thresholds = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    good = s[~t]
    curve = []
    for th in thresholds:
        predicted = s >= th
        tp = int((predicted & t).sum())
        fp = int((predicted & ~t).sum())
        fn = int((~predicted & t).sum())
        curve.append(
            {
                "threshold": float(th),
                "precision": tp / (tp + fp) if tp + fp else 1.0,
                "recall": tp / (tp + fn) if tp + fn else 0.0,
                "false_reject_rate": float((good >= th).mean()) if good.size else 0.0,
            }
        )
    return curve
