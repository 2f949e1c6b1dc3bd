"""Top-k ranking metrics for recommendations, with binary relevance.

Each per-user function takes the ranked recommendations (best first) and the set of relevant items; the
``*_at_k`` means in :func:`ranking_report` average over users that have at least one relevant item (users with
none cannot be scored and are skipped, as the usual protocols do).

Definitions (``hits_i`` = 1 when the item at rank i is relevant, ``R`` = number of relevant items):
- precision@k = Σ hits_i / k (a list shorter than k still divides by k)
- recall@k = Σ hits_i / R
- nDCG@k = Σ hits_i / log2(i + 1) divided by the same sum for an ideal list with min(R, k) hits on top
- AP@k = Σ precision@i · hits_i / min(R, k); MAP@k is its mean over users
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence

import numpy as np


def _check(ranked: Sequence[Hashable], k: int) -> list[Hashable]:
    if k < 1:
        raise ValueError("k must be at least 1")
    top = list(ranked)[:k]
    if len(set(top)) != len(top):
        raise ValueError("a ranked list must not repeat an item")
    return top


def precision_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    top = _check(ranked, k)
    return sum(1 for item in top if item in relevant) / k


def recall_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    top = _check(ranked, k)
    if not relevant:
        raise ValueError("recall is undefined without relevant items")
    return sum(1 for item in top if item in relevant) / len(relevant)


def ndcg_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    top = _check(ranked, k)
    if not relevant:
        raise ValueError("nDCG is undefined without relevant items")
    dcg = sum(1.0 / np.log2(rank + 2) for rank, item in enumerate(top) if item in relevant)
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return float(dcg / ideal)


def average_precision_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    top = _check(ranked, k)
    if not relevant:
        raise ValueError("average precision is undefined without relevant items")
    hits, total = 0, 0.0
    for rank, item in enumerate(top, start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    return total / min(len(relevant), k)


def catalog_coverage(recommendations: Iterable[Sequence[Hashable]], catalog_size: int) -> float:
    """Share of the catalog that appears in at least one recommended list."""
    if catalog_size < 1:
        raise ValueError("catalog_size must be at least 1")
    shown = set()
    for ranked in recommendations:
        shown.update(ranked)
    return len(shown) / catalog_size


def popularity_bias(recommendations: Iterable[Sequence[Hashable]], popularity: Mapping[Hashable, float]) -> float:
    """Mean popularity percentile of recommended items: 1.0 = only the most popular item, ~0.5 = no bias.

    ``popularity`` maps every catalog item to its interaction count (items missing count as 0). The percentile
    of an item is the share of catalog items strictly less popular than it, plus half of the ties.
    """
    values = np.asarray(list(popularity.values()), dtype=np.float64)
    if values.size == 0:
        raise ValueError("popularity must not be empty")
    ordered = np.sort(values)
    percentiles = []
    for ranked in recommendations:
        for item in ranked:
            p = float(popularity.get(item, 0.0))
            below = np.searchsorted(ordered, p, side="left")
            ties = np.searchsorted(ordered, p, side="right") - below
            percentiles.append((below + 0.5 * ties) / values.size)
    if not percentiles:
        raise ValueError("no recommended items to measure")
    return float(np.mean(percentiles))


def ranking_report(recommendations: Mapping[Hashable, Sequence[Hashable]], relevant: Mapping[Hashable, Collection[Hashable]], k: int = 10) -> dict[str, float]:
    """precision@k, recall@k, ndcg@k and map@k averaged over users with relevant items, plus ``users``."""
    scored = [user for user, items in relevant.items() if items]
    if not scored:
        raise ValueError("no user has relevant items")
    sums = {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0}
    for user in scored:
        ranked, rel = recommendations.get(user, ()), relevant[user]
        sums["precision"] += precision_at_k(ranked, rel, k)
        sums["recall"] += recall_at_k(ranked, rel, k)
        sums["ndcg"] += ndcg_at_k(ranked, rel, k)
        sums["map"] += average_precision_at_k(ranked, rel, k)
    report = {f"{name}@{k}": value / len(scored) for name, value in sums.items()}
    report["users"] = float(len(scored))
    return report


def ranking_report_arrays(top: np.ndarray, relevant_mask: np.ndarray, k: int = 10) -> dict[str, float]:
    """Vectorised :func:`ranking_report` for matrices: ``top`` (users × ≥k item columns, best first) and
    ``relevant_mask`` (users × items, True where relevant). Rows without relevant items are skipped."""
    if top.ndim != 2 or top.shape[1] < k:
        raise ValueError(f"top must be a users × (≥{k}) matrix")
    n_relevant = relevant_mask.sum(axis=1)
    rows = np.flatnonzero(n_relevant > 0)
    if rows.size == 0:
        raise ValueError("no user has relevant items")
    hits = np.take_along_axis(relevant_mask[rows], top[rows, :k], axis=1).astype(np.float64)
    n_rel = n_relevant[rows].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_rel, k).astype(int) - 1]
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return {
        f"precision@{k}": float((hits.sum(1) / k).mean()),
        f"recall@{k}": float((hits.sum(1) / n_rel).mean()),
        f"ndcg@{k}": float(((hits * discounts).sum(1) / ideal).mean()),
        f"map@{k}": float(((precision_at_i * hits).sum(1) / np.minimum(n_rel, k)).mean()),
        "users": float(rows.size),
    }
