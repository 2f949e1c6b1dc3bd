"""A fitted recommender: a weighted blend of scoring components over one item catalog, with the tables that
serving needs (histories of training users, popularity, item neighbours, text embeddings), saved as one
``.npz`` file of plain arrays and loaded back by :class:`ml.recommenders.predictor.RecommenderPredictor`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml import npz
from ml.recommenders.algorithms import COMPONENTS, EASE, Component, StaticScores, _Factors
from ml.recommenders.sizing import block_rows

# Why an item was recommended: from the shopper's own history (known user), from the items of an anonymous
# session or a new shopper (fold-in), from text similarity (cold start), or because it is popular/trending.
SOURCES = ("personal", "session", "content", "popular", "trending")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Recommendation:
    item_id: int
    score: float
    source: str
    because_item_id: int | None = None


@dataclass(frozen=True)
class SimilarItem:
    item_id: int
    score: float
    source: str  # "collaborative" (bought/viewed by the same shoppers) or "content" (similar text)


def zscore_unseen(scores: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Standardise each row over the items it has not seen, so components on different scales can be added."""
    # Masked sums rather than nanmean/nanstd: the same numbers, a fraction of the time on one serving row.
    x = scores.astype(np.float64)
    unseen = ~seen
    count = unseen.sum(axis=1, keepdims=True)
    safe = np.maximum(count, 1)
    mean = np.where(count > 0, np.where(unseen, x, 0.0).sum(axis=1, keepdims=True) / safe, 0.0)
    var = np.where(unseen, (x - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / safe
    std = np.sqrt(var)
    std = np.where((count > 0) & np.isfinite(std) & (std > 1e-12), std, 1.0)
    return ((scores - mean) / std).astype(np.float32)


def top_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the ``n`` largest scores per row, best first (argpartition, then sort only those)."""
    n = min(n, scores.shape[1])
    if n <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


PRUNE_MIN_ITEMS = 20_000  # below this, scoring every item is as fast as walking the catalog
PRUNE_BLOCK = 2_048  # the first block of tail items; each next one doubles


@dataclass(frozen=True)
class _PrunedPlan:
    component: _Factors
    weight: float
    head: np.ndarray  # sorted columns scored in full (the EASE head)
    head_items: np.ndarray  # the factor model's item vectors of the head, contiguous
    tail: np.ndarray  # every other column, by falling norm of its item vector
    tail_norms: np.ndarray


def _best(cols: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` highest (column, score) pairs, best first."""
    if scores.size > n:
        part = np.argpartition(-scores, n - 1)[:n]
        cols, scores = cols[part], scores[part]
    order = np.argsort(-scores, kind="stable")
    return cols[order], scores[order]


def _standardise_parts(columns: np.ndarray | None, values: np.ndarray, fill: float, seen: np.ndarray, n_items: int) -> tuple[float, float] | None:
    """Mean and spread over the unseen items of scores given as ``values`` on ``columns`` (None: every item) and
    ``fill`` elsewhere; None when they cannot standardise (no unseen item)."""
    unseen = n_items - seen.size
    if unseen <= 0:
        return None
    wide = values.astype(np.float64)
    others = n_items - (values.size if columns is not None else 0)
    if columns is None:
        seen_values = wide[seen]
    elif columns.size:
        at = np.minimum(np.searchsorted(columns, seen), columns.size - 1)
        seen_values = np.where(columns[at] == seen, wide[at], fill)
    else:
        seen_values = np.full(seen.size, fill)
    mean = (wide.sum() + others * fill - seen_values.sum()) / unseen
    var = (float(wide @ wide) + others * fill * fill - float(seen_values @ seen_values)) / unseen - mean * mean
    std = math.sqrt(max(var, 0.0))
    return mean, (std if math.isfinite(std) and std > 1e-12 else 1.0)


class _IdIndex:
    """Position of an id in an id array, by binary search (the array's order is kept)."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids
        ordered = ids.size < 2 or bool(np.all(ids[1:] > ids[:-1]))
        self.order = None if ordered else np.argsort(ids, kind="stable")
        self.sorted = ids if ordered else ids[self.order]

    def find_many(self, values: Iterable[int]) -> np.ndarray:
        if isinstance(values, np.ndarray):
            wanted = values.astype(np.int64, copy=False)
        else:
            wanted = np.fromiter((v for v in map(int, values) if _INT64[0] <= v <= _INT64[1]), dtype=np.int64)
        if self.sorted.size == 0 or wanted.size == 0:
            return np.zeros(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.sorted, wanted), self.sorted.size - 1)
        pos = pos[self.sorted[pos] == wanted]
        return pos if self.order is None else self.order[pos]

    def positions(self, values: np.ndarray) -> np.ndarray:
        """Position of each value (int64 array), −1 where the id is unknown; aligned with ``values``."""
        out = np.full(values.shape, -1, dtype=np.int64)
        if self.sorted.size == 0 or values.size == 0:
            return out
        pos = np.minimum(np.searchsorted(self.sorted, values), self.sorted.size - 1)
        hit = self.sorted[pos] == values
        out[hit] = pos[hit] if self.order is None else self.order[pos[hit]]
        return out

    def find(self, value: int) -> int | None:
        value = int(value)
        if not _INT64[0] <= value <= _INT64[1]:
            return None
        found = self.find_many(np.array([value], dtype=np.int64))
        return int(found[0]) if found.size else None


_INT64 = (-(2**63), 2**63 - 1)


class RecommenderModel:
    def __init__(
        self,
        *,
        algorithm: str,
        item_ids: np.ndarray,
        user_ids: np.ndarray,
        history: sp.csr_matrix,
        components: list[tuple[Component, float]],
        popularity: np.ndarray,
        neighbours: np.ndarray,
        neighbour_scores: np.ndarray,
        neighbour_sources: np.ndarray,
        embeddings: np.ndarray | None = None,
        has_text: np.ndarray | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self.user_ids = np.asarray(user_ids, dtype=np.int64)
        self.history = history.astype(np.float32, copy=False).tocsr(copy=False)
        self.components = components
        self.popularity = np.asarray(popularity, dtype=np.float32)
        self.neighbours = neighbours
        self.neighbour_scores = neighbour_scores
        self.neighbour_sources = neighbour_sources  # 1 = collaborative, 0 = content, per item
        self.embeddings = embeddings
        self.has_text = has_text if has_text is not None else np.zeros(len(self.item_ids), dtype=bool)
        self.info = info or {}
        # Id → row/column by binary search over sorted ids: no per-id Python objects (a million users would take
        # ~100 MB of dict in every serving process).
        self._items = _IdIndex(self.item_ids)
        self._users = _IdIndex(self.user_ids)
        self.warm = np.bincount(self.history.indices, minlength=len(self.item_ids)) > 0
        self._explain_vectors = self._make_explain_vectors()
        self._pruned: _PrunedPlan | bool | None = None
        self._pruned_plan()  # built with the model (tens of ms on 200k items), not on the first request

    # --- shape ----------------------------------------------------------------------------------------------

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def is_static(self) -> bool:
        return all(isinstance(c, StaticScores) for c, _ in self.components)

    def item_col(self, item_id: int) -> int | None:
        return self._items.find(item_id)

    def user_row(self, user_id: int) -> int | None:
        return self._users.find(user_id)

    def item_cols(self, item_ids: Iterable[int]) -> np.ndarray:
        """Columns of the item ids the model knows (unknown ids are dropped)."""
        return self._items.find_many(item_ids)

    # --- scoring --------------------------------------------------------------------------------------------

    def score_rows(self, rows: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        """Blended scores for history rows; with one component its raw scores."""
        if len(self.components) == 1:
            component, _ = self.components[0]
            return component.scores(rows, users)
        seen = rows.toarray() > 0
        total = np.zeros((rows.shape[0], self.n_items), dtype=np.float32)
        for component, weight in self.components:
            if weight:
                total += weight * zscore_unseen(component.scores(rows, users), seen)
        return total

    def top_n_for_users(self, user_rows: np.ndarray, n: int, batch: int | None = None) -> np.ndarray:
        """Top-``n`` item columns for training users (seen items excluded), e.g. for evaluation or precompute.

        Scored in blocks of ``batch`` rows (default: sized so one block of scores stays a few million cells)."""
        batch = batch or block_rows(self.n_items)
        out = np.zeros((len(user_rows), min(n, self.n_items)), dtype=np.int64)
        for start in range(0, len(user_rows), batch):
            idx = np.asarray(user_rows[start : start + batch])
            rows = self.history[idx]
            scores = self.score_rows(rows, idx)
            scores[rows.nonzero()] = -np.inf
            out[start : start + len(idx)] = top_indices(scores, n)
        return out

    def _row(self, user_id: int | None, history: dict[int, float]) -> tuple[sp.csr_matrix, int]:
        """The shopper's row: their training history (if known) merged with recent events (max weight); only the
        items with a positive weight are stored. Built from the few touched columns, never a catalog-wide array."""
        user_row = self.user_row(user_id) if user_id is not None else None
        cols, vals = [], []
        if user_row is not None:
            start, end = self.history.indptr[user_row], self.history.indptr[user_row + 1]
            cols.append(np.asarray(self.history.indices[start:end], dtype=np.int64))
            vals.append(np.asarray(self.history.data[start:end], dtype=np.float32))
        known = [(int(k), float(w)) for k, w in history.items() if _INT64[0] <= int(k) <= _INT64[1]]
        if known:
            positions = self._items.positions(np.array([k for k, _ in known], dtype=np.int64))
            weights = np.array([w for _, w in known], dtype=np.float32)
            cols.append(positions[positions >= 0])
            vals.append(weights[positions >= 0])
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        val = np.concatenate(vals) if vals else np.zeros(0, dtype=np.float32)
        if col.size:
            order = np.argsort(col, kind="stable")
            col, val = col[order], val[order]
            starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
            col, val = col[starts], np.maximum.reduceat(val, starts)
            keep = val > 0
            col, val = col[keep], val[keep]
        row = sp.csr_matrix((val, col.astype(np.int32), np.array([0, col.size], dtype=np.int32)), shape=(1, self.n_items))
        return row, (user_row if user_row is not None else -1)

    def _score_one(self, row: sp.csr_matrix, user_row: int) -> np.ndarray:
        """:meth:`score_rows` for one shopper (a new float32 array), without catalog-wide temporaries per step.

        A blend standardises each component over the items the shopper has not seen; the mean and spread over
        those come from the sums over every item less the few seen ones, and a partial component (EASE on the
        head items) adds its scores on its own columns and a constant elsewhere."""
        users = np.array([user_row])
        if len(self.components) == 1:
            return np.array(self.components[0][0].scores(row, users)[0], dtype=np.float32)
        seen = row.indices[row.data > 0]
        total = np.zeros(self.n_items, dtype=np.float32)
        offset = 0.0
        for component, weight in self.components:
            if not weight:
                continue
            columns, values, fill = component.score_parts(row, users)
            mean, std = _standardise_parts(columns, values, fill, seen, self.n_items) or (0.0, 1.0)
            scale = weight / std
            if columns is None:
                total += values * np.float32(scale)
                offset -= mean * scale
            else:
                total[columns] += (values - np.float32(fill)) * np.float32(scale)
                offset += (fill - mean) * scale
        total += np.float32(offset)
        return total

    def recommend(
        self,
        *,
        user_id: int | None = None,
        history: dict[int, float] | None = None,
        n: int = 10,
        exclude_item_ids: set[int] | None = None,
        allowed_item_ids: set[int] | None = None,
        exclude_seen: bool = True,
        allowed_mask: np.ndarray | None = None,
    ) -> list[Recommendation]:
        """Recommend ``n`` items for a known user and/or a history {item_id: weight} (anonymous session, new user).

        The path follows what is known: collaborative scores when the history touches items with interactions,
        else text similarity to the history's items, else popularity. ``allowed_item_ids`` limits the candidates
        (in stock, a category); ``allowed_mask`` does the same as a boolean array over the item columns (a
        server caches it per filter); ``exclude_item_ids`` removes some (e.g. purchased ones).
        """
        history = history or {}
        row, user_row = self._row(user_id, history)
        cols = row.indices
        blocked = np.zeros(self.n_items, dtype=bool)  # excluded: seen, bought, not allowed
        if exclude_seen:
            blocked[cols] = True
        if exclude_item_ids:
            blocked[self.item_cols(exclude_item_ids)] = True
        if allowed_item_ids is not None:
            allowed = np.zeros(self.n_items, dtype=bool)
            allowed[self.item_cols(allowed_item_ids)] = True
            blocked |= ~allowed
        if allowed_mask is not None:
            if allowed_mask.shape != (self.n_items,):
                raise ValueError(f"allowed_mask must have one flag per item ({self.n_items}), got shape {allowed_mask.shape}")
            blocked |= ~allowed_mask
        if self.is_static:
            source = self.algorithm if self.algorithm in SOURCES else "popular"
            scores = np.array(self.score_rows(row)[0], dtype=np.float32)
        elif cols.size and self.warm[cols].any():
            source = "personal" if user_row >= 0 else "session"
            found = self._top_pruned(row, user_row, n, blocked)
            if found is not None:
                top, top_scores = found
                because = self._because(row, top, source)
                return [
                    Recommendation(item_id=int(self.item_ids[c]), score=float(v), source=source, because_item_id=b)
                    for c, v, b in zip(top, top_scores, because, strict=True)
                ]
            scores = self._score_one(row, user_row)
        elif cols.size and self.embeddings is not None and self.has_text[cols].any():
            source = "content"
            text_cols = cols[self.has_text[cols]]
            scores = (self.embeddings @ self.embeddings[text_cols].mean(axis=0)).astype(np.float32)
            scores[~self.has_text] = -1.0
        else:
            source = "popular"
            scores = self.popularity.astype(np.float32, copy=True)
        np.putmask(scores, blocked, -np.inf)
        top = top_indices(scores[None, :], n)[0]
        top = top[scores[top] > -np.inf]
        because = self._because(row, top, source)
        return [
            Recommendation(item_id=int(self.item_ids[c]), score=float(scores[c]), source=source, because_item_id=b) for c, b in zip(top, because, strict=True)
        ]

    # --- one shopper on a large catalog ---------------------------------------------------------------------

    def _pruned_plan(self) -> _PrunedPlan | None:
        """How :meth:`_top_pruned` walks this model, or None where it does not apply: a small catalog (every score is
        cheap), or components other than one factor model plus partial (head) EASE models."""
        if self._pruned is not None:
            return self._pruned or None
        factors = [(c, w) for c, w in self.components if isinstance(c, _Factors) and w > 0]
        others = [c for c, w in self.components if not isinstance(c, _Factors) and w > 0]
        if self.n_items < PRUNE_MIN_ITEMS or len(factors) != 1 or not all(isinstance(c, EASE) and not c.is_dense for c in others):
            self._pruned = False
            return None
        head = np.unique(np.concatenate([c.columns for c in others])) if others else np.zeros(0, dtype=np.int64)
        component = factors[0][0]
        items = component.item_factors
        tail = np.setdiff1d(np.arange(self.n_items), head, assume_unique=True)
        norms = np.linalg.norm(items[tail], axis=1)
        order = np.argsort(-norms, kind="stable")
        self._pruned = _PrunedPlan(component, factors[0][1], head, np.ascontiguousarray(items[head]), tail[order], norms[order].astype(np.float64))
        return self._pruned

    def _top_pruned(self, row: sp.csr_matrix, user_row: int, n: int, blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The ``n`` best unblocked columns and their scores, the same as scoring every item (:meth:`_score_one`)
        but without doing so on a large catalog.

        The blend is linear in the factor model's score u·v on every item outside the EASE head: the head (a few
        thousand items) is scored in full, the tail is walked in order of falling ‖v‖ and the walk stops once
        ‖u‖·‖v‖ (an upper bound of u·v) can no longer reach the n-th best score found. Each component's mean and
        spread over the unseen items come from sums: u·Σv and uᵀ(Σ v vᵀ)u for the factor model. On the 200k-item
        synthetic shop the walk reads about 2 % of the tail. Returns None where the plan does not apply."""
        plan = self._pruned_plan()
        if plan is None or n <= 0:
            return None
        users = np.array([user_row])
        seen = row.indices[row.data > 0]
        unseen = self.n_items - seen.size
        if unseen <= 0:
            return None
        items = plan.component.item_factors
        u = plan.component.user_vectors(row, users)[0]
        u64 = u.astype(np.float64)
        total, gram = plan.component.moments()
        seen_values = np.asarray(items[seen], dtype=np.float64) @ u64
        raw_mean = (float(total @ u64) - seen_values.sum()) / unseen
        raw_var = (float(u64 @ gram @ u64) - float(seen_values @ seen_values)) / unseen - raw_mean * raw_mean
        single = len(self.components) == 1  # the factor model alone: its raw scores, as score_rows gives them
        std = math.sqrt(max(raw_var, 0.0))
        if not single and not (math.isfinite(std) and std > 1e-12):
            return None
        scale = 1.0 if single else plan.weight / std
        offset = 0.0 if single else -raw_mean * scale
        head_scores = (plan.head_items @ u) * np.float32(scale)
        for component, weight in self.components:
            if component is plan.component or not weight:
                continue
            columns, values, fill = component.score_parts(row, users)
            part = _standardise_parts(columns, values, fill, seen, self.n_items)
            if part is None:
                return None
            mean, part_std = part
            part_scale = weight / part_std
            at = np.searchsorted(plan.head, columns)
            head_scores[at] += (values - np.float32(fill)) * np.float32(part_scale)
            offset += (fill - mean) * part_scale
        head_scores += np.float32(offset)
        head_scores[blocked[plan.head]] = -np.inf
        pool_cols, pool_scores = _best(plan.head, head_scores, n)
        bound = scale * float(np.linalg.norm(u64))
        start, step = 0, PRUNE_BLOCK
        while start < plan.tail.size:
            threshold = pool_scores[-1] if pool_scores.size >= n else -np.inf
            reach = bound * plan.tail_norms[start] + offset
            if reach + 1e-5 * (abs(reach) + 1e-6) < threshold:  # with room for float32 rounding of the scores
                break
            cols = plan.tail[start : start + step]
            values = (items[cols] @ u) * np.float32(scale) + np.float32(offset)
            values[blocked[cols]] = -np.inf
            pool_cols, pool_scores = _best(np.concatenate([pool_cols, cols]), np.concatenate([pool_scores, values]), n)
            start, step = start + step, step * 2
        keep = pool_scores > -np.inf
        return pool_cols[keep], pool_scores[keep]

    # --- explanations and neighbours ------------------------------------------------------------------------

    def _make_explain_vectors(self) -> np.ndarray | None:
        for component, _ in self.components:
            if isinstance(component, EASE) and component.is_dense:
                return None  # a dense EASE explains with its own weights (see _because)
            vectors = component.item_vectors()
            if vectors is not None:
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return None

    def _because(self, row: sp.csr_matrix, top: np.ndarray, source: str) -> list[int | None]:
        """For each recommended column, the history item that contributed most to it."""
        cols, weights = row.indices, row.data
        if source in ("popular", "trending") or cols.size == 0 or top.size == 0:
            return [None] * len(top)
        if source == "content":
            text_cols = cols[self.has_text[cols]]
            sims = self.embeddings[text_cols] @ self.embeddings[top].T
            return [int(self.item_ids[text_cols[k]]) for k in sims.argmax(axis=0)]
        ease = next((c for c, _ in self.components if isinstance(c, EASE) and c.is_dense), None)
        if ease is not None:
            contributions = weights[:, None] * ease.weights[np.ix_(cols, top)]
        elif self._explain_vectors is not None:
            contributions = self._explain_vectors[cols] @ self._explain_vectors[top].T
        else:
            return [None] * len(top)
        return [int(self.item_ids[cols[k]]) for k in contributions.argmax(axis=0)]

    def similar_items(self, item_id: int, n: int = 10, allowed_item_ids: set[int] | None = None, allowed_mask: np.ndarray | None = None) -> list[SimilarItem]:
        """The item's precomputed neighbours, best first; ``allowed_item_ids`` / ``allowed_mask`` (one flag per item column,
        as for :meth:`recommend`) keep only some."""
        col = self.item_col(item_id)
        if col is None:
            return []
        source = "collaborative" if self.neighbour_sources[col] else "content"
        out = []
        for other, score in zip(self.neighbours[col], self.neighbour_scores[col], strict=True):
            if other < 0 or not np.isfinite(score):
                break
            other_id = int(self.item_ids[other])
            if (allowed_item_ids is not None and other_id not in allowed_item_ids) or (allowed_mask is not None and not allowed_mask[other]):
                continue
            out.append(SimilarItem(other_id, float(score), source))
            if len(out) >= n:
                break
        return out

    def similar_to_embedding(
        self, vector: np.ndarray, n: int = 10, allowed_item_ids: set[int] | None = None, allowed_mask: np.ndarray | None = None
    ) -> list[SimilarItem]:
        """Items whose text is closest to ``vector`` (a product the model has never seen, embedded on the fly)."""
        if self.embeddings is None:
            return []
        scores = (self.embeddings @ vector.astype(np.float32)).astype(np.float32)
        scores[~self.has_text] = -np.inf
        if allowed_item_ids is not None:
            allowed = np.zeros(self.n_items, dtype=bool)
            allowed[self.item_cols(allowed_item_ids)] = True
            scores[~allowed] = -np.inf
        if allowed_mask is not None:
            scores[~allowed_mask] = -np.inf
        top = top_indices(scores[None, :], n)[0]
        return [SimilarItem(int(self.item_ids[c]), float(scores[c]), "content") for c in top if np.isfinite(scores[c])]

    # --- persistence ----------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "item_ids": self.item_ids,
            "user_ids": self.user_ids,
            "history_data": self.history.data,
            "history_indices": self.history.indices,
            "history_indptr": self.history.indptr,
            "popularity": self.popularity,
            "neighbours": self.neighbours,
            "neighbour_scores": self.neighbour_scores,
            "neighbour_sources": self.neighbour_sources,
            "has_text": self.has_text,
        }
        if self.embeddings is not None:
            arrays["embeddings"] = self.embeddings
        kinds, weights = [], []
        for k, (component, weight) in enumerate(self.components):
            kinds.append(component.kind)
            weights.append(weight)
            for key, value in component.state().items():
                if value is not None:
                    arrays[f"c{k}__{key}"] = np.asarray(value)
        meta = {"format": FORMAT_VERSION, "algorithm": self.algorithm, "components": kinds, "weights": weights, "info": self.info}
        arrays["meta"] = np.array(json.dumps(meta))
        npz.save(path, arrays)

    @classmethod
    def load(cls, path: Path, *, mmap: bool = True) -> RecommenderModel:
        """Load an artifact; with ``mmap`` its arrays are mapped read-only from the file and shared by every process
        that serves it (see :mod:`ml.npz`)."""
        arrays = npz.load(path, mmap=mmap)
        meta = json.loads(str(arrays["meta"]))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported recommender artifact format {meta.get('format')!r}")
        components = []
        for k, (kind, weight) in enumerate(zip(meta["components"], meta["weights"], strict=True)):
            prefix = f"c{k}__"
            state = {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}
            components.append((COMPONENTS[kind].from_state(state), float(weight)))
        n_users, n_items = len(arrays["user_ids"]), len(arrays["item_ids"])
        history = sp.csr_matrix((arrays["history_data"], arrays["history_indices"], arrays["history_indptr"]), shape=(n_users, n_items))
        return cls(
            algorithm=meta["algorithm"],
            item_ids=arrays["item_ids"],
            user_ids=arrays["user_ids"],
            history=history,
            components=components,
            popularity=arrays["popularity"],
            neighbours=arrays["neighbours"],
            neighbour_scores=arrays["neighbour_scores"],
            neighbour_sources=arrays["neighbour_sources"],
            embeddings=arrays.get("embeddings"),
            has_text=arrays["has_text"],
            info=meta.get("info") or {},
        )
