"""Interaction data → the weighted user × item matrix every recommender trains on.

Plain arrays in, plain arrays out: the application layer reads the shop's events (``apps.commerce``), the
benchmark reads MovieLens files, and both hand this module the same :class:`Interactions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

EVENT_TYPES = ("view", "add_to_cart", "purchase", "rating")
# ``Interactions.types`` holds int8 codes: the index into EVENT_TYPES, or OTHER_TYPE for any other kind of event
# (recommendation feedback, say), which weighs nothing. One byte per event instead of a Python string.
OTHER_TYPE = -1


def event_type_codes(types: np.ndarray | list[str] | tuple[str, ...]) -> np.ndarray:
    """Names → int8 codes (:data:`OTHER_TYPE` for names outside :data:`EVENT_TYPES`); codes pass through."""
    array = np.asarray(types)
    if array.dtype.kind in "iu":
        codes = array.astype(np.int8)
        codes[(array < 0) | (array >= len(EVENT_TYPES))] = OTHER_TYPE
        return codes
    array = array.astype(str)
    codes = np.full(array.shape, OTHER_TYPE, dtype=np.int8)
    for code, name in enumerate(EVENT_TYPES):
        codes[array == name] = code
    return codes


@dataclass(frozen=True)
class Interactions:
    """One row per event: who (user id), what (item id), which kind, an optional value, and when (epoch s).

    Ids are the application's integer ids (customer and product primary keys); ``types`` are int8 codes into
    :data:`EVENT_TYPES` (-1: any other type) — an array of names is accepted and converted; ``values`` is NaN
    where an event has none (a rating's stars, a purchase's quantity otherwise).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    types: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray

    def __post_init__(self) -> None:
        if np.asarray(self.types).dtype != np.int8:
            object.__setattr__(self, "types", event_type_codes(self.types))
        n = len(self.user_ids)
        for name in ("item_ids", "types", "values", "timestamps"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"interactions: {name} has {len(getattr(self, name))} rows, user_ids has {n}")

    def __len__(self) -> int:
        return len(self.user_ids)

    @classmethod
    def from_log(cls, log: object) -> Interactions:
        """From any object with the five arrays under the names the shop's interaction log uses.

        The log's ``types`` are either names or integer codes into its own ``type_names`` tuple; either way they
        are mapped onto :data:`EVENT_TYPES` here.
        """
        types = np.asarray(log.types)
        names = getattr(log, "type_names", None)
        if types.dtype.kind in "iu" and names is not None:
            # Translate the log's codes through a small lookup table (one entry per name, plus -1 → OTHER_TYPE).
            table = np.append(event_type_codes(np.array(names, dtype=str)), np.int8(OTHER_TYPE))
            codes = table[np.where((types >= 0) & (types < len(names)), types, -1)]
        else:
            codes = event_type_codes(types)
        return cls(
            user_ids=np.asarray(log.customer_ids, dtype=np.int64),
            item_ids=np.asarray(log.product_ids, dtype=np.int64),
            types=codes,
            values=np.asarray(log.values, dtype=np.float64),
            timestamps=np.asarray(log.timestamps, dtype=np.float64),
        )

    def describe(self) -> dict[str, object]:
        codes, counts = np.unique(self.types, return_counts=True) if len(self) else ([], [])
        return {
            "events": len(self),
            "users": int(len(np.unique(self.user_ids))),
            "items": int(len(np.unique(self.item_ids))),
            "by_type": {self.type_name(int(t)): int(c) for t, c in zip(codes, counts, strict=True)},
            "first_event_ts": float(self.timestamps.min()) if len(self) else None,
            "last_event_ts": float(self.timestamps.max()) if len(self) else None,
        }

    @staticmethod
    def type_name(code: int) -> str:
        return EVENT_TYPES[code] if 0 <= code < len(EVENT_TYPES) else "other"


@dataclass(frozen=True)
class EventWeights:
    """How much each kind of event says about a shopper's taste; a rating's weight grows with its stars."""

    view: float = 1.0
    add_to_cart: float = 3.0
    purchase: float = 5.0
    rating_offset: float = 0.5
    rating_scale: float = 0.2  # rating r weighs rating_offset + rating_scale * r (5 stars → 1.5, 1 star → 0.7)

    def of(self, types: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Weight per event from its type codes (see :func:`event_type_codes`; names are converted) and values."""
        codes = event_type_codes(types)
        weights = np.zeros(len(codes), dtype=np.float64)
        for name in ("view", "add_to_cart", "purchase"):
            weights[codes == EVENT_TYPES.index(name)] = getattr(self, name)
        rating = codes == EVENT_TYPES.index("rating")
        stars = np.nan_to_num(values[rating], nan=3.0)
        weights[rating] = self.rating_offset + self.rating_scale * stars
        return np.maximum(weights, 0.0)


@dataclass
class InteractionMatrix:
    """Weighted user × item matrix with the id ↔ row/column maps that produced it."""

    matrix: sp.csr_matrix  # float32, one value per (user, item): the aggregated event weight
    user_ids: np.ndarray  # row r is user user_ids[r]
    item_ids: np.ndarray  # column c is item item_ids[c]
    _user_index: dict[int, int] = field(default_factory=dict, repr=False)
    _item_index: dict[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_index = {int(u): r for r, u in enumerate(self.user_ids)}
        self._item_index = {int(i): c for c, i in enumerate(self.item_ids)}

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def user_row(self, user_id: int) -> int | None:
        return self._user_index.get(int(user_id))

    def item_col(self, item_id: int) -> int | None:
        return self._item_index.get(int(item_id))

    def with_matrix(self, matrix: sp.csr_matrix) -> InteractionMatrix:
        return InteractionMatrix(matrix.astype(np.float32).tocsr(), self.user_ids, self.item_ids)


def build_matrix(
    interactions: Interactions,
    weights: EventWeights,
    *,
    aggregate: str = "max",
    item_ids: np.ndarray | None = None,
) -> InteractionMatrix:
    """Aggregate events per (user, item) — ``max`` keeps the strongest signal, ``sum`` adds repeats up.

    ``item_ids`` fixes the columns (e.g. the whole catalog, so items nobody touched yet still get a column);
    events on items outside it are dropped. Event types outside :data:`EVENT_TYPES` weigh nothing.
    """
    if aggregate not in ("max", "sum"):
        raise ValueError("aggregate must be 'max' or 'sum'")
    w = weights.of(interactions.types, interactions.values)
    keep = w > 0
    users_raw, items_raw, w = interactions.user_ids[keep], interactions.item_ids[keep], w[keep]
    if item_ids is None:
        item_ids = np.unique(items_raw)
    else:
        item_ids = np.unique(np.asarray(item_ids, dtype=np.int64))
        inside = np.isin(items_raw, item_ids)
        users_raw, items_raw, w = users_raw[inside], items_raw[inside], w[inside]
    user_ids = np.unique(users_raw)
    rows = np.searchsorted(user_ids, users_raw)
    cols = np.searchsorted(item_ids, items_raw)
    shape = (len(user_ids), len(item_ids))
    if aggregate == "sum":
        matrix = sp.csr_matrix((w, (rows, cols)), shape=shape)
    else:
        # Keep the largest weight per cell: sort by weight so the last write of each (row, col) wins.
        order = np.argsort(w, kind="stable")
        key = rows[order].astype(np.int64) * max(shape[1], 1) + cols[order]
        last = np.unique(key[::-1], return_index=True)[1]
        picked = order[::-1][last]
        matrix = sp.csr_matrix((w[picked], (rows[picked], cols[picked])), shape=shape)
    matrix.sum_duplicates()
    return InteractionMatrix(matrix.astype(np.float32).tocsr(), user_ids, item_ids)


@dataclass
class Confidence:
    """Confidence weighting for matrix-factorisation models: ``bm25``, ``tfidf`` or ``none``.

    The same formulas as ``implicit.nearest_neighbours`` (BM25 per user row, IDF over items), written here so
    the CPU and the torch path weigh identically — and fitted, so that a new shopper's history (folded in at
    serving time) is weighed with the IDF and the average history length of the training data.
    """

    scheme: str = "bm25"
    k1: float = 100.0
    b: float = 0.8
    idf: np.ndarray | None = None
    average_length: float = 1.0

    def fit(self, matrix: sp.csr_matrix) -> Confidence:
        if self.scheme not in ("bm25", "tfidf", "none"):
            raise ValueError(f"unknown confidence scheme {self.scheme!r} (bm25, tfidf, none)")
        coo = sp.coo_matrix(matrix)
        n_users = float(max(coo.shape[0], 1))
        self.idf = np.log(n_users) - np.log1p(np.bincount(coo.col, minlength=coo.shape[1]).astype(np.float64))
        row_sums = np.ravel(coo.sum(axis=1))
        self.average_length = float(row_sums.mean()) if row_sums.size and row_sums.mean() > 0 else 1.0
        return self

    def transform(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        if self.scheme == "none":
            return sp.csr_matrix(matrix, dtype=np.float32)
        if self.idf is None:
            raise ValueError("Confidence.fit must run before transform")
        coo = sp.coo_matrix(matrix, dtype=np.float64)
        idf = self.idf[coo.col]
        if self.scheme == "tfidf":
            data = np.sqrt(coo.data) * idf
        else:
            row_sums = np.ravel(coo.sum(axis=1))
            length_norm = (1.0 - self.b) + self.b * row_sums / self.average_length
            data = coo.data * (self.k1 + 1.0) / (self.k1 * length_norm[coo.row] + coo.data) * idf
        # An item every user touched has idf ≤ 0: it carries no preference signal, not a negative one.
        data = np.maximum(data, 0.0)
        return sp.csr_matrix((data, (coo.row, coo.col)), shape=coo.shape, dtype=np.float32)


def split_per_user(matrix: sp.csr_matrix, test_fraction: float, seed: int, *, min_train: int = 1) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random per-user hold-out of (user, item) cells: each user keeps round((1 - f) · n) cells for training.

    Users with fewer than ``min_train + 1`` cells keep everything in training. The same seed gives the same
    split. Returns ``(train, test)`` with the original values.
    """
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must be between 0 and 1")
    coo = matrix.tocoo()
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(coo.nnz), coo.row))
    rows_sorted = coo.row[order]
    counts = np.bincount(rows_sorted, minlength=matrix.shape[0])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(coo.nnz) - starts[rows_sorted]
    n_train = np.rint(counts * (1.0 - test_fraction)).astype(np.int64)
    n_train = np.where(counts <= min_train, counts, np.maximum(n_train, min_train))
    in_train = np.zeros(coo.nnz, dtype=bool)
    in_train[order] = position < n_train[rows_sorted]
    make = lambda mask: sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=matrix.shape, dtype=matrix.dtype)  # noqa: E731
    return make(in_train), make(~in_train)
