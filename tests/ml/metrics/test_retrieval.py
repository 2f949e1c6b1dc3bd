import pytest

from ml.metrics.retrieval import mean_reciprocal_rank, recall_at_k


def test_recall_at_k_hand_computed():
    ranked = [[3, 1, 2], [0, 4, 5], [7, 8, 9]]
    relevant = [1, {5, 6}, 10]
    # Query 1 finds 1 at rank 2, query 2 finds 5 at rank 3, query 3 never finds 10.
    assert recall_at_k(ranked, relevant, 1) == 0.0
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 3) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, relevant, 10) == pytest.approx(2 / 3)


def test_mean_reciprocal_rank_hand_computed():
    ranked = [[3, 1, 2], [5], [7, 8]]
    relevant = [1, 5, 9]
    assert mean_reciprocal_rank(ranked, relevant) == pytest.approx((1 / 2 + 1 + 0) / 3)


@pytest.mark.parametrize(("ranked", "relevant", "k"), [([], [], 1), ([[1]], [1, 2], 1), ([[1]], [1], 0)])
def test_recall_rejects_bad_input(ranked, relevant, k):
    with pytest.raises(ValueError):
        recall_at_k(ranked, relevant, k)
