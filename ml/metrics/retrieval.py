"""Retrieval metrics over many queries (FAQ search): a query counts as a hit when any relevant item is returned.

``ml.metrics.ranking.recall_at_k`` is the per-list fraction of relevant items found (recommendations); with one
relevant item per query both agree. Import these from ``ml.metrics.retrieval``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def recall_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[Collection[int] | int], k: int) -> float:
    """Fraction of queries with at least one relevant item among their first ``k`` results."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if len(ranked) != len(relevant):
        raise ValueError("ranked and relevant must have one entry per query")
    if not ranked:
        raise ValueError("cannot score an empty set of queries")
    hits = 0
    for results, wanted in zip(ranked, relevant, strict=True):
        wanted = {wanted} if isinstance(wanted, int) else set(wanted)
        hits += bool(wanted & set(list(results)[:k]))
    return hits / len(ranked)


def mean_reciprocal_rank(ranked: Sequence[Sequence[int]], relevant: Sequence[Collection[int] | int]) -> float:
    """Mean of 1 / (rank of the first relevant item), 0 when none was returned."""
    if len(ranked) != len(relevant):
        raise ValueError("ranked and relevant must have one entry per query")
    if not ranked:
        raise ValueError("cannot score an empty set of queries")
    total = 0.0
    for results, wanted in zip(ranked, relevant, strict=True):
        wanted = {wanted} if isinstance(wanted, int) else set(wanted)
        total += next((1.0 / r for r, item in enumerate(results, start=1) if item in wanted), 0.0)
    return total / len(ranked)
