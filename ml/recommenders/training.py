"""Train a recommender: weighted matrix → held-out evaluation → fit on everything → neighbours → artifact.

Every run measures itself: a per-user random hold-out (``test_fraction``) is scored with precision/recall/
nDCG/MAP@k, coverage and popularity bias, and the blend's weights are chosen on a validation split carved from
the training part only (never from the held-out part). The artifact is then fitted on all interactions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.core import ConfigError, ProgressCallback, TrainConfig, TrainedModel, no_progress, set_seed
from ml.device import DeviceInfo
from ml.metrics.ranking import ranking_report_arrays
from ml.recommenders.algorithms import ALS, BACKENDS, BPR, EASE, Component, StaticScores, popularity, trending
from ml.recommenders.data import Confidence, EventWeights, InteractionMatrix, Interactions, build_matrix, split_per_user
from ml.recommenders.model import RecommenderModel, top_indices, zscore_unseen
from ml.recommenders.sizing import MIN_HEAD_ITEMS, STRATEGIES, ScalePlan, block_rows, plan

ALGORITHMS = ("blend", "ease", "als", "bpr", "popularity", "trending")
MAX_VALIDATION_USERS = 3000
MAX_BLEND_FIT_USERS = 100_000


@dataclass
class RecommenderConfig(TrainConfig):
    """Hyper-parameters of every recommender family; the defaults are the benchmark's best configuration."""

    algorithm: str = "blend"  # blend (EASE + ALS), ease, als, bpr, popularity, trending
    # How much each event says (see EventWeights) and how repeats of one (user, item) combine: max or sum.
    weight_view: float = 1.0
    weight_add_to_cart: float = 3.0
    weight_purchase: float = 5.0
    rating_offset: float = 0.5
    rating_scale: float = 0.2
    aggregate: str = "max"
    # Confidence weighting for the factor models (ALS, BPR): bm25, tfidf or none.
    confidence: str = "bm25"
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    ease_l2: float = 500.0
    als_factors: int = 16
    als_regularization: float = 10.0
    als_iterations: int = 15
    als_alpha: float = 1.0
    als_members: int = 3  # ALS models with consecutive seeds, factors concatenated (averages out init noise)
    # auto: implicit / NumPy on CPU, our torch code on cuda (same interface); numpy or torch force one.
    backend: str = "auto"
    bpr_factors: int = 64
    bpr_learning_rate: float = 0.05
    bpr_regularization: float = 0.01
    bpr_iterations: int = 100
    # Blend: EASE's share (ALS gets the rest) of per-user standardised scores; null = chosen on validation.
    blend_ease_weight: float | None = None
    trending_half_life_days: float = 7.0
    content: bool = True  # MiniLM text embeddings for cold-start neighbours and sessions
    test_fraction: float = 0.2
    validation_fraction: float = 0.25
    k: int = 10
    neighbours: int = 50
    # How the model fits the catalog (ml.recommenders.sizing): auto, dense (EASE over every item), head (EASE over
    # the head_items items with the most shoppers, ALS for all) or factors (ALS alone).
    scale_strategy: str = "auto"
    dense_item_limit: int = 10000
    head_items: int = 8000
    # Held-out users scored to measure the model (a seeded sample above this many).
    max_eval_users: int = 10000

    def validate(self) -> None:
        super().validate()
        checks = [
            (self.algorithm in ALGORITHMS, f"algorithm must be one of {', '.join(ALGORITHMS)}"),
            (self.aggregate in ("max", "sum"), "aggregate must be max or sum"),
            (self.confidence in ("bm25", "tfidf", "none"), "confidence must be bm25, tfidf or none"),
            (self.backend in BACKENDS, f"backend must be one of {', '.join(BACKENDS)}"),
            (all(w >= 0 for w in (self.weight_view, self.weight_add_to_cart, self.weight_purchase)), "event weights must be ≥ 0"),
            (self.rating_offset >= 0 and self.rating_scale >= 0, "rating_offset and rating_scale must be ≥ 0"),
            (self.bm25_k1 > 0 and 0 <= self.bm25_b <= 1, "bm25_k1 must be > 0 and bm25_b between 0 and 1"),
            (self.ease_l2 > 0, "ease_l2 must be > 0"),
            (1 <= self.als_factors <= 1024 and 1 <= self.bpr_factors <= 1024, "factors must be between 1 and 1024"),
            (1 <= self.als_iterations <= 500 and 1 <= self.bpr_iterations <= 5000, "iterations out of range"),
            (1 <= self.als_members <= 10, "als_members must be between 1 and 10"),
            (self.als_regularization >= 0 and self.bpr_regularization >= 0 and self.als_alpha > 0, "regularization ≥ 0 and alpha > 0"),
            (0 < self.bpr_learning_rate < 10, "bpr_learning_rate must be between 0 and 10"),
            (self.blend_ease_weight is None or 0 <= self.blend_ease_weight <= 1, "blend_ease_weight must be between 0 and 1 or null"),
            (self.trending_half_life_days > 0, "trending_half_life_days must be > 0"),
            (0 < self.test_fraction < 1 and 0 < self.validation_fraction < 1, "test_fraction and validation_fraction must be in (0, 1)"),
            (1 <= self.k <= 100 and 1 <= self.neighbours <= 500, "k must be 1–100 and neighbours 1–500"),
            (self.scale_strategy in STRATEGIES, f"scale_strategy must be one of {', '.join(STRATEGIES)}"),
            (1 <= self.dense_item_limit <= 100_000, "dense_item_limit must be between 1 and 100000"),
            (MIN_HEAD_ITEMS <= self.head_items <= 100_000, f"head_items must be between {MIN_HEAD_ITEMS} and 100000"),
            (100 <= self.max_eval_users <= 10_000_000, "max_eval_users must be between 100 and 10000000"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def event_weights(self) -> EventWeights:
        return EventWeights(self.weight_view, self.weight_add_to_cart, self.weight_purchase, self.rating_offset, self.rating_scale)


@dataclass
class RecommenderDataset:
    interactions: Interactions
    catalog_item_ids: np.ndarray | None = None  # every product, so products nobody touched still get a column
    item_texts: dict[int, str] | None = None  # product id → title + description, for the text embeddings
    now: float | None = None  # reference time for trending; default: the latest event
    memory_limit: int | None = None  # bytes training may use at its peak (ML_MEMORY_LIMIT); None = no check


class NotEnoughData(ValueError):
    """Too few interactions to train and evaluate."""


BLEND_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def _components(
    config: RecommenderConfig, matrix: sp.csr_matrix, events: tuple[np.ndarray, np.ndarray, np.ndarray] | None, now: float, scale: ScalePlan
) -> list[Component]:
    if config.algorithm == "popularity":
        return [StaticScores(popularity(matrix))]
    if config.algorithm == "trending":
        cols, weights, stamps = events
        return [StaticScores(trending(cols, weights, stamps, matrix.shape[1], half_life_days=config.trending_half_life_days, now=now))]
    confidence = Confidence(config.confidence, config.bm25_k1, config.bm25_b)
    ease = EASE(config.ease_l2, config.backend, head_items=scale.head_items if scale.strategy == "head" else None)
    als = ALS(
        config.als_factors,
        config.als_regularization,
        config.als_iterations,
        config.als_alpha,
        confidence,
        config.seed,
        config.als_members,
        config.backend,
    )
    bpr = BPR(config.bpr_factors, config.bpr_learning_rate, config.bpr_regularization, config.bpr_iterations, confidence, config.seed)
    if config.algorithm in ("blend", "ease") and scale.strategy == "factors":
        return [als]  # the catalog is too large for any item–item matrix
    return {"blend": [ease, als], "ease": [ease], "als": [als], "bpr": [bpr]}[config.algorithm]


def _fit(components: list[Component], matrix: sp.csr_matrix, device: DeviceInfo | None, progress: ProgressCallback, lo: float, hi: float, stage: str) -> None:
    for k, component in enumerate(components):
        span = (hi - lo) / len(components)
        start = lo + k * span
        component.fit(matrix, device, lambda f, s=start, span=span: progress(s + f * span, stage))


def _events_in(cells: sp.csr_matrix, event_rows: np.ndarray, event_cols: np.ndarray) -> np.ndarray:
    """Mask of events whose (user, item) cell is present in ``cells``."""
    lookup = cells.tocsr().copy()
    lookup.data = np.ones_like(lookup.data)
    return np.asarray(lookup[event_rows, event_cols]).ravel() > 0


class _Events:
    """Raw events mapped onto the matrix's rows and columns (what trending needs: when, how much)."""

    def __init__(self, interactions: Interactions, matrix: InteractionMatrix, weights: EventWeights) -> None:
        w = weights.of(interactions.types, interactions.values)
        rows = np.searchsorted(matrix.user_ids, interactions.user_ids)
        cols = np.searchsorted(matrix.item_ids, interactions.item_ids)
        ok = (w > 0) & (rows < len(matrix.user_ids)) & (cols < len(matrix.item_ids))
        ok[ok] &= (matrix.user_ids[rows[ok]] == interactions.user_ids[ok]) & (matrix.item_ids[cols[ok]] == interactions.item_ids[ok])
        self.rows, self.cols, self.weights, self.stamps = rows[ok], cols[ok], w[ok], interactions.timestamps[ok]

    def within(self, cells: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        inside = _events_in(cells, self.rows, self.cols)
        return self.cols[inside], self.weights[inside], self.stamps[inside]


def _sample(users: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if users.size <= limit:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, limit, replace=False))


class _RankingTotals:
    """Ranking metrics accumulated block by block (each block's means weighted by its users)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.users = 0.0

    def add(self, top: np.ndarray, relevant: np.ndarray, k: int) -> None:
        if not relevant.any():
            return
        report = ranking_report_arrays(top, relevant, k)
        n = report.pop("users")
        for key, value in report.items():
            self.sums[key] = self.sums.get(key, 0.0) + value * n
        self.users += n

    def report(self) -> dict[str, float]:
        return {key: value / self.users for key, value in self.sums.items()} if self.users else {}


def evaluate(
    model: RecommenderModel, test: sp.csr_matrix, k: int, train_popularity: np.ndarray | None = None, *, max_users: int | None = None, seed: int = 0
) -> dict[str, float]:
    """Held-out metrics of a model fitted on the complementary training cells (its ``history``).

    Scored in blocks of rows (memory bounded by the catalog's size); above ``max_users`` held-out users, a seeded
    sample of them is scored.
    """
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if users.size == 0:
        raise NotEnoughData("no shopper has held-out interactions to evaluate on")
    users = _sample(users, max_users or users.size, seed)
    totals, shown_parts, percentile_parts = _RankingTotals(), [], []
    counts = train_popularity if train_popularity is not None else np.bincount(model.history.indices, minlength=model.n_items).astype(np.float64)
    ordered = np.sort(counts)
    below, upto = np.searchsorted(ordered, counts, "left"), np.searchsorted(ordered, counts, "right")
    percentile = (below + 0.5 * (upto - below)) / len(counts)
    step = block_rows(model.n_items)
    for start in range(0, users.size, step):
        block = users[start : start + step]
        top = model.top_n_for_users(block, k, batch=step)
        relevant = test[block].toarray() > 0
        if top.shape[1] < k:  # a catalog smaller than k: pad with an impossible column
            relevant = np.hstack([relevant, np.zeros((len(block), 1), dtype=bool)])
            top = np.hstack([top, np.full((len(block), k - top.shape[1]), relevant.shape[1] - 1)])
        totals.add(top, relevant, k)
        real = top[top < model.n_items]
        shown_parts.append(np.unique(real))
        percentile_parts.append(percentile[real])
    metrics = totals.report()
    shown = np.unique(np.concatenate(shown_parts))
    metrics[f"coverage@{k}"] = float(shown.size / model.n_items)
    metrics[f"popularity_bias@{k}"] = float(np.concatenate(percentile_parts).mean())
    metrics["eval_users"] = float(totals.users)
    return metrics


def _choose_blend_weight(
    config: RecommenderConfig, train: sp.csr_matrix, scale: ScalePlan, device: DeviceInfo | None, progress: ProgressCallback, lo: float, hi: float
) -> tuple[float, dict[str, float]]:
    """Pick EASE's share in the blend by nDCG@k on a validation split carved from the training cells.

    Above :data:`MAX_BLEND_FIT_USERS` shoppers the choice is made on a seeded sample of them: one weight does not
    need a million shoppers, and the fit it takes is the most expensive part of training."""
    if train.shape[0] > MAX_BLEND_FIT_USERS:
        train = train[_sample(np.arange(train.shape[0]), MAX_BLEND_FIT_USERS, config.seed + 2)]
    fit_part, valid = split_per_user(train, config.validation_fraction, config.seed + 1)
    components = _components(config, fit_part, None, 0.0, scale)
    _fit(components, fit_part, device, progress, lo, hi, "choosing blend weights")
    users = np.flatnonzero(np.diff(valid.indptr) > 0)
    if users.size == 0:
        return 0.5, {}
    users = _sample(users, MAX_VALIDATION_USERS, config.seed)
    k = min(config.k, train.shape[1])
    totals = {w: _RankingTotals() for w in BLEND_GRID}
    step = block_rows(train.shape[1])
    for start in range(0, users.size, step):
        block = users[start : start + step]
        rows = fit_part[block]
        seen = rows.toarray() > 0
        parts = [zscore_unseen(c.scores(rows, block), seen) for c in components]
        relevant = valid[block].toarray() > 0
        for w in BLEND_GRID:
            blended = w * parts[0] + (1 - w) * parts[1]
            blended[seen] = -np.inf
            totals[w].add(top_indices(blended, k), relevant, k)
    scores_by_weight = {w: totals[w].report().get(f"ndcg@{k}", 0.0) for w in BLEND_GRID}
    best = max(BLEND_GRID, key=lambda w: (scores_by_weight[w], -abs(w - 0.5)))
    return best, {f"validation_ndcg@{k}_ease_{w}": v for w, v in scores_by_weight.items()}


# Above this many candidate items, neighbours come from an approximate (HNSW) index instead of an exact search:
# exact all-pairs search costs items² (about 20 min of one core per 200k items), HNSW about items · log(items).
EXACT_NEIGHBOUR_ITEMS = 20_000


def _neighbours(components: list[Component], warm: np.ndarray, embeddings: np.ndarray | None, has_text: np.ndarray, k: int):  # noqa: ANN202
    """Top-k similar items per item: collaborative (from the model's item vectors, or a dense EASE's weights) for
    items with interactions, text similarity for the rest. Returns (indices, scores, sources, method) with −1 / −inf
    padding after the good neighbours (positive similarity only)."""
    n = len(warm)
    k = max(1, min(k, n - 1)) if n > 1 else 1
    neighbours = np.full((n, k), -1, dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    sources = np.zeros(n, dtype=np.int8)
    vectors, ease_weights = None, None
    for component in components:
        if isinstance(component, EASE) and component.is_dense:
            ease_weights = component.weights
            break
        item_vectors = component.item_vectors()
        if item_vectors is not None:
            vectors = (item_vectors / np.maximum(np.linalg.norm(item_vectors, axis=1, keepdims=True), 1e-12)).astype(np.float32)
            break
    methods = []
    collaborative = ease_weights is not None or vectors is not None
    if collaborative:
        items = np.flatnonzero(warm)
        if ease_weights is not None:
            found, found_scores = _exact_knn(lambda q: (ease_weights[q] + ease_weights[:, q].T) / 2, warm, items, k)
            methods.append("exact (EASE weights)")
        else:
            found, found_scores, method = _knn(vectors, warm, items, k)
            methods.append(method)
        neighbours[items], scores[items], sources[items] = found, found_scores, 1
    if embeddings is not None:
        items = np.flatnonzero(has_text & ~warm if collaborative else has_text)
        if items.size:
            found, found_scores, method = _knn(embeddings, has_text, items, k)
            neighbours[items], scores[items] = found, found_scores
            methods.append(f"text: {method}")
    return neighbours, scores, sources, ", ".join(methods) or "none"


def _knn(vectors: np.ndarray, candidates: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The ``k`` candidates with the largest inner product to each query item (itself excluded), exact for small
    catalogs and from a faiss HNSW graph above :data:`EXACT_NEIGHBOUR_ITEMS` candidates."""
    if int(candidates.sum()) <= EXACT_NEIGHBOUR_ITEMS:
        found, found_scores = _exact_knn(lambda q: vectors[q] @ vectors.T, candidates, queries, k)
        return found, found_scores, "exact"
    import faiss

    pool = np.flatnonzero(candidates)
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    index.add(np.ascontiguousarray(vectors[pool], dtype=np.float32))
    index.hnsw.efSearch = max(128, 2 * (k + 1))
    found = np.full((len(queries), k), -1, dtype=np.int32)
    found_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    for start in range(0, len(queries), 50_000):
        q = queries[start : start + 50_000]
        sims, positions = index.search(np.ascontiguousarray(vectors[q], dtype=np.float32), k + 1)
        items = np.where(positions >= 0, pool[np.maximum(positions, 0)], -1)
        good = (positions >= 0) & (items != q[:, None]) & (sims > 0)
        order = np.argsort(~good, axis=1, kind="stable")[:, :k]  # good ones first, in the index's best-first order
        good = np.take_along_axis(good, order, axis=1)
        found[start : start + len(q)] = np.where(good, np.take_along_axis(items, order, axis=1), -1)
        found_scores[start : start + len(q)] = np.where(good, np.take_along_axis(sims, order, axis=1), -np.inf)
    return found, found_scores, "approximate (faiss HNSW)"


def _exact_knn(similarities: Callable[[np.ndarray], np.ndarray], candidates: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` in blocks of query rows: one similarity block and one partial sort per block."""
    n = len(candidates)
    found = np.full((len(queries), k), -1, dtype=np.int32)
    found_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    step = 4 * block_rows(n)  # wider blocks than scoring: one matrix product per block is the cost here
    for start in range(0, len(queries), step):
        q = queries[start : start + step]
        s = np.asarray(similarities(q), dtype=np.float32)
        s[:, ~candidates] = -np.inf
        s[np.arange(len(q)), q] = -np.inf
        top = top_indices(s, k)
        top_scores = np.take_along_axis(s, top, axis=1)
        good = np.isfinite(top_scores) & (top_scores > 0)  # best first, so the good ones are a prefix
        found[start : start + len(q)] = np.where(good, top, -1)
        found_scores[start : start + len(q)] = np.where(good, top_scores, -np.inf)
    return found, found_scores


def _build_model(
    config: RecommenderConfig,
    matrix: InteractionMatrix,
    components: list[Component],
    weights: list[float],
    embeddings: np.ndarray | None,
    has_text: np.ndarray,
    info: dict[str, Any],
) -> RecommenderModel:
    warm = np.bincount(matrix.matrix.indices, minlength=matrix.shape[1]) > 0
    neighbours, scores, sources, info["neighbour_search"] = _neighbours(components, warm, embeddings, has_text, config.neighbours)
    return RecommenderModel(
        algorithm=config.algorithm,
        item_ids=matrix.item_ids,
        user_ids=matrix.user_ids,
        history=matrix.matrix,
        components=list(zip(components, weights, strict=True)),
        popularity=popularity(matrix.matrix),
        neighbours=neighbours,
        neighbour_scores=scores,
        neighbour_sources=sources,
        embeddings=embeddings,
        has_text=has_text,
        info=info,
    )


def train(dataset: RecommenderDataset, config: RecommenderConfig, progress: ProgressCallback = no_progress, device: DeviceInfo | None = None) -> TrainedModel:
    started = time.perf_counter()
    set_seed(config.seed)
    timings: dict[str, float] = {}
    progress(2, "building interaction matrix")
    weights = config.event_weights()
    full = build_matrix(dataset.interactions, weights, aggregate=config.aggregate, item_ids=dataset.catalog_item_ids)
    if full.matrix.nnz < 2 or full.shape[0] < 1:
        raise NotEnoughData(f"only {full.matrix.nnz} (user, item) interactions: record some views, carts or purchases first")
    events = _Events(dataset.interactions, full, weights)
    now = dataset.now if dataset.now is not None else (float(events.stamps.max()) if events.stamps.size else time.time())
    train_cells, test_cells = split_per_user(full.matrix, config.test_fraction, config.seed)
    if test_cells.nnz == 0:
        raise NotEnoughData("no shopper has two or more interactions: nothing can be held out to measure the model")

    scale = plan(config, users=full.shape[0], items=full.shape[1], cells=full.matrix.nnz, events=len(dataset.interactions), memory_limit=dataset.memory_limit)
    if dataset.memory_limit is not None:
        scale.estimate.check(dataset.memory_limit, "Training this recommender")
    info: dict[str, Any] = {"device": device.description if device else "cpu", "scale": scale.as_dict()}
    blend = [1.0]
    if config.algorithm == "blend" and scale.strategy != "factors":
        t = time.perf_counter()
        if config.blend_ease_weight is None:
            w, validation = _choose_blend_weight(config, train_cells, scale, device, progress, 5, 30)
            info["validation"] = validation
        else:
            w = config.blend_ease_weight
        blend = [w, 1.0 - w]
        info["blend_weights"] = {"ease": w, "als": 1.0 - w}
        timings["choose_blend_seconds"] = time.perf_counter() - t

    t = time.perf_counter()
    components = _components(config, train_cells, events.within(train_cells), now, scale)
    _fit(components, train_cells, device, progress, 30, 55, "evaluating on held-out split")
    no_text = np.zeros(full.shape[1], dtype=bool)
    held_out_model = _build_model_light(config, full, train_cells, components, blend, no_text)
    metrics = evaluate(held_out_model, test_cells, config.k, max_users=config.max_eval_users, seed=config.seed)
    timings["evaluate_seconds"] = time.perf_counter() - t
    progress(58, "evaluating on held-out split", {k: v for k, v in metrics.items() if "@" in k})

    t = time.perf_counter()
    components = _components(config, full.matrix, (events.cols, events.weights, events.stamps), now, scale)
    _fit(components, full.matrix, device, progress, 60, 85, "fitting on all interactions")
    timings["final_fit_seconds"] = time.perf_counter() - t

    embeddings, has_text = None, no_text
    if config.content and dataset.item_texts:
        t = time.perf_counter()
        progress(86, "embedding item texts")
        from ml.recommenders.content import embed_texts

        cols = [c for c, item in enumerate(full.item_ids) if (dataset.item_texts.get(int(item)) or "").strip()]
        vectors = embed_texts([dataset.item_texts[int(full.item_ids[c])] for c in cols], device)
        embeddings = np.zeros((full.shape[1], vectors.shape[1] if len(cols) else 384), dtype=np.float32)
        embeddings[cols] = vectors
        has_text = np.zeros(full.shape[1], dtype=bool)
        has_text[cols] = True
        timings["embed_seconds"] = time.perf_counter() - t

    progress(92, "item neighbours")
    t = time.perf_counter()
    info["backends"] = {c.kind: c.used_backend for c in components if getattr(c, "used_backend", "")}
    model = _build_model(config, full, components, blend, embeddings, has_text, info)
    timings["neighbours_seconds"] = time.perf_counter() - t
    timings["train_seconds"] = time.perf_counter() - started

    metrics["train_seconds"] = round(timings["train_seconds"], 3)
    details = {
        "users": int(full.shape[0]),
        "items": int(full.shape[1]),
        "cells": int(full.matrix.nnz),
        "held_out_cells": int(test_cells.nnz),
        "cold_items": int((np.bincount(full.matrix.indices, minlength=full.shape[1]) == 0).sum()),
        "items_with_text": int(has_text.sum()),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        **{k: v for k, v in info.items() if k != "device"},
    }
    return TrainedModel(model=model, metrics=metrics, save=model.save, artifact_name="recommender.npz", details=details)


def _build_model_light(
    config: RecommenderConfig, full: InteractionMatrix, train_cells: sp.csr_matrix, components: list[Component], blend: list[float], no_text: np.ndarray
) -> RecommenderModel:
    """A model over the training cells only, for evaluation: no neighbours or embeddings needed."""
    n = full.shape[1]
    return RecommenderModel(
        algorithm=config.algorithm,
        item_ids=full.item_ids,
        user_ids=full.user_ids,
        history=train_cells,
        components=list(zip(components, blend, strict=True)),
        popularity=popularity(train_cells),
        neighbours=np.full((n, 1), -1, dtype=np.int32),
        neighbour_scores=np.full((n, 1), -np.inf, dtype=np.float32),
        neighbour_sources=np.zeros(n, dtype=np.int8),
        embeddings=None,
        has_text=no_text,
    )


def load(path: Path) -> RecommenderModel:
    return RecommenderModel.load(path)
