"""Ranking metrics against cases computed by hand."""

import math

import numpy as np
import pytest

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

# Ranked a, b, c, d, e; relevant {a, c, f}: hits at ranks 1 and 3.
RANKED, RELEVANT = ["a", "b", "c", "d", "e"], {"a", "c", "f"}


def test_precision_and_recall_by_hand():
    assert precision_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 5)
    assert precision_at_k(RANKED, RELEVANT, 2) == pytest.approx(1 / 2)
    assert recall_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 3)
    # A list shorter than k still divides by k.
    assert precision_at_k(["a"], RELEVANT, 4) == pytest.approx(1 / 4)


def test_ndcg_by_hand():
    dcg = 1 / math.log2(2) + 1 / math.log2(4)  # hits at ranks 1 and 3
    ideal = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # three relevant items fit in k=5
    assert ndcg_at_k(RANKED, RELEVANT, 5) == pytest.approx(dcg / ideal)
    # With k=2 the ideal list has two hits; ours has one at rank 1.
    assert ndcg_at_k(RANKED, RELEVANT, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["c", "a"], RELEVANT, 2) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], RELEVANT, 2) == 0.0


def test_average_precision_by_hand():
    # P@1 = 1 at the first hit, P@3 = 2/3 at the second; divided by min(|relevant|, k) = 3.
    assert average_precision_at_k(RANKED, RELEVANT, 5) == pytest.approx((1 + 2 / 3) / 3)
    # k = 2: one hit at rank 1, divided by min(3, 2) = 2.
    assert average_precision_at_k(RANKED, RELEVANT, 2) == pytest.approx(1 / 2)


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError):
        precision_at_k(RANKED, RELEVANT, 0)
    with pytest.raises(ValueError):
        ndcg_at_k(["a", "a"], RELEVANT, 2)
    with pytest.raises(ValueError):
        recall_at_k(RANKED, set(), 3)


def test_report_averages_over_users_with_relevant_items_and_arrays_agree():
    recs = {"u1": ["a", "b", "c"], "u2": ["b", "a", "d"], "u3": ["a", "b", "c"]}
    relevant = {"u1": {"a"}, "u2": {"a", "d"}, "u3": set()}
    report = ranking_report(recs, relevant, k=3)
    assert report["users"] == 2
    assert report["precision@3"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert report["recall@3"] == pytest.approx((1 + 1) / 2)
    u2_ndcg = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert report["ndcg@3"] == pytest.approx((1 + u2_ndcg) / 2)
    assert report["map@3"] == pytest.approx((1 + (1 / 2 + 2 / 3) / 2) / 2)

    index = {"a": 0, "b": 1, "c": 2, "d": 3}
    top = np.array([[index[i] for i in recs[u]] for u in ("u1", "u2", "u3")])
    mask = np.zeros((3, 4), dtype=bool)
    for r, u in enumerate(("u1", "u2", "u3")):
        for item in relevant[u]:
            mask[r, index[item]] = True
    arrays = ranking_report_arrays(top, mask, k=3)
    for key in ("precision@3", "recall@3", "ndcg@3", "map@3", "users"):
        assert arrays[key] == pytest.approx(report[key])


def test_coverage_and_popularity_bias_by_hand():
    assert catalog_coverage([["a", "b"], ["b", "c"]], catalog_size=8) == pytest.approx(3 / 8)
    popularity = {"a": 10, "b": 5, "c": 1, "d": 0}
    # Percentiles (share strictly below + half the ties): a 3.5/4, b 2.5/4, c 1.5/4, d 0.5/4.
    assert popularity_bias([["a"]], popularity) == pytest.approx(3.5 / 4)
    assert popularity_bias([["a", "d"], ["b", "c"]], popularity) == pytest.approx((3.5 + 0.5 + 2.5 + 1.5) / 16)
