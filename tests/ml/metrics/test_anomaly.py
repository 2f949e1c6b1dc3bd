"""Anomaly metrics against cases computed by hand."""

import numpy as np
import pytest

from ml.metrics import f1_at_threshold, pixel_roc_auc, precision_recall_at, roc_auc, threshold_curve, threshold_for_false_reject_rate


def test_roc_auc_counts_correctly_ordered_pairs():
    # Positives 0.8, 0.4; negatives 0.5, 0.1. Pairs (pos > neg): (0.8,0.5) (0.8,0.1) (0.4,0.1) = 3 of 4.
    assert roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.5, 0.1]) == pytest.approx(0.75)


def test_roc_auc_ties_count_half():
    # One positive and one negative with the same score: 0.5; plus a clean pair: (1 + 0.5) / 2.
    assert roc_auc([1, 0], [0.3, 0.3]) == pytest.approx(0.5)
    assert roc_auc([1, 1, 0], [0.3, 0.9, 0.3]) == pytest.approx(0.75)


def test_roc_auc_perfect_and_inverted():
    assert roc_auc([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert roc_auc([0, 0, 1, 1], [4, 3, 2, 1]) == 0.0


def test_roc_auc_rejects_one_class_and_bad_input():
    with pytest.raises(ValueError, match="positive and one negative"):
        roc_auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="same length"):
        roc_auc([1, 0], [0.1])
    with pytest.raises(ValueError, match="0 \\(good\\) or 1"):
        roc_auc([2, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        roc_auc([1, 0], [np.nan, 0.2])


def test_pixel_roc_auc_pools_every_pixel():
    masks = [np.array([[0, 1], [0, 0]]), np.array([[0, 0], [0, 1]])]
    heat = [np.array([[0.1, 0.9], [0.2, 0.3]]), np.array([[0.4, 0.0], [0.1, 0.35]])]
    # Positives 0.9 and 0.35; negatives 0.1 0.2 0.3 0.4 0.0 0.1. 0.9 beats all 6; 0.35 beats 5 (not 0.4): 11/12.
    assert pixel_roc_auc(masks, heat) == pytest.approx(11 / 12)
    with pytest.raises(ValueError, match="shape"):
        pixel_roc_auc([np.zeros((2, 2))], [np.zeros((2, 3))])


def test_f1_at_threshold():
    # Scores >= 0.5 predicted defective: 0.9 (tp), 0.6 (fp), 0.7 (tp); 0.2 positive missed (fn).
    # precision 2/3, recall 2/3 -> F1 2/3.
    labels, scores = [1, 0, 1, 1, 0], [0.9, 0.6, 0.7, 0.2, 0.1]
    assert precision_recall_at(labels, scores, 0.5) == pytest.approx((2 / 3, 2 / 3))
    assert f1_at_threshold(labels, scores, 0.5) == pytest.approx(2 / 3)
    assert f1_at_threshold(labels, scores, 0.95) == 0.0


def test_threshold_for_false_reject_rate():
    good = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    # 20% with 10 good parts: just above the 2nd highest (0.9) rejects a new good part with probability 2/11 <= 0.2.
    t = threshold_for_false_reject_rate(good, 0.2)
    assert 0.9 < t <= 1.0
    # 10%: just above the 2nd highest would reject 2/11 = 0.18 of new good parts; just above all of them, 1/11.
    assert threshold_for_false_reject_rate(good, 0.1) > 1.0
    # 0%, or any rate 10 parts cannot resolve (below 1/11): above every good score.
    assert threshold_for_false_reject_rate(good, 0.0) > 1.0
    assert threshold_for_false_reject_rate(good, 0.05) > 1.0
    # 50% of 10: floor(0.5 * 11) = 5, just above the 5th highest (0.6).
    assert 0.6 < threshold_for_false_reject_rate(good, 0.5) <= 0.7
    with pytest.raises(ValueError):
        threshold_for_false_reject_rate([], 0.1)


def test_conformal_threshold_holds_its_rate_on_new_good_parts():
    rng = np.random.default_rng(0)
    rates = []
    for _ in range(4000):
        calibration, new = rng.normal(size=31), rng.normal(size=50)
        rates.append(np.mean(new >= threshold_for_false_reject_rate(calibration, 0.1)))
    assert np.mean(rates) <= 0.1 + 0.003  # floor(0.1 * 32) = 3 → 3/32 = 0.094 expected


def test_threshold_curve_end_points():
    curve = threshold_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], points=3)
    assert [round(p["threshold"], 3) for p in curve] == [0.1, 0.45, 0.8]
    # At 0.1 everything is rejected; at 0.45 only 0.8 (a defect); at 0.8 still only 0.8.
    assert curve[0] == {"threshold": 0.1, "precision": 0.5, "recall": 1.0, "false_reject_rate": 1.0}
    assert curve[1]["precision"] == 1.0 and curve[1]["recall"] == 0.5 and curve[1]["false_reject_rate"] == 0.0
