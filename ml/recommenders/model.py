"""A fitted recommender: a weighted blend of scoring components over one item catalog, with the tables that
serving needs (histories of training users, popularity, item neighbours, text embeddings), saved as one
``.npz`` file of plain arrays and loaded back by :class:`ml.recommenders.predictor.RecommenderPredictor`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml import npz
from ml.recommenders.algorithms import COMPONENTS, EASE, Component, StaticScores
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
        """The shopper's row: their training history (if known) merged with recent events (max weight)."""
        user_row = self.user_row(user_id) if user_id is not None else None
        values = np.zeros(self.n_items, dtype=np.float32)
        if user_row is not None:
            start, end = self.history.indptr[user_row], self.history.indptr[user_row + 1]
            values[self.history.indices[start:end]] = self.history.data[start:end]
        for item_id, weight in history.items():
            col = self.item_col(item_id)
            if col is not None:
                values[col] = max(values[col], float(weight))
        return sp.csr_matrix(values[None, :]), (user_row if user_row is not None else -1)

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
        if self.is_static:
            source = self.algorithm if self.algorithm in SOURCES else "popular"
            scores = self.score_rows(row)[0]
        elif cols.size and self.warm[cols].any():
            source = "personal" if user_row >= 0 else "session"
            scores = self.score_rows(row, np.array([user_row]))[0]
        elif cols.size and self.embeddings is not None and self.has_text[cols].any():
            source = "content"
            text_cols = cols[self.has_text[cols]]
            scores = (self.embeddings @ self.embeddings[text_cols].mean(axis=0)).astype(np.float32)
            scores[~self.has_text] = -1.0
        else:
            source = "popular"
            scores = self.popularity.copy()
        scores = scores.astype(np.float32, copy=True)
        mask = np.zeros(self.n_items, dtype=bool)
        if exclude_seen:
            mask[cols] = True
        if exclude_item_ids:
            mask[self.item_cols(exclude_item_ids)] = True
        if allowed_item_ids is not None:
            allowed = np.zeros(self.n_items, dtype=bool)
            allowed[self.item_cols(allowed_item_ids)] = True
            mask |= ~allowed
        if allowed_mask is not None:
            if allowed_mask.shape != (self.n_items,):
                raise ValueError(f"allowed_mask must have one flag per item ({self.n_items}), got shape {allowed_mask.shape}")
            mask |= ~allowed_mask
        scores[mask] = -np.inf
        candidates = int((~mask).sum())
        top = top_indices(scores[None, :], min(n, candidates))[0]
        because = self._because(row, top, source)
        return [
            Recommendation(item_id=int(self.item_ids[c]), score=float(scores[c]), source=source, because_item_id=b) for c, b in zip(top, because, strict=True)
        ]

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
