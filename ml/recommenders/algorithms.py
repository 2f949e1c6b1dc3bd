"""Scoring components behind one interface: fit on a user × item matrix, score history rows over all items.

A *row* is a shopper's weighted item history (a CSR row over the training columns), so one code path serves
known users, customers whose events arrived after training and anonymous sessions alike. Each component
saves its state as plain NumPy arrays (no pickle in artifacts).

- :class:`EASE` — closed-form linear item–item model (Steck 2019); NumPy on CPU, torch on ``cuda``.
- :class:`ALS` — implicit-feedback matrix factorisation; ``implicit`` on CPU, our torch solver on ``cuda``
  (or when ``backend="torch"``); optionally an ensemble of seeds whose factors are concatenated.
- :class:`BPR` — ``implicit``'s Bayesian personalised ranking (CPU only: the PyPI wheel has no CUDA).
- :class:`StaticScores` — one score per item (popularity, recent trending), the same for every shopper.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ml.device import DeviceInfo
from ml.recommenders.data import Confidence

Tick = Callable[[float], None]  # reports the component's own progress 0..1


def _noop(_fraction: float) -> None:
    return None


BACKENDS = ("auto", "numpy", "torch")


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
    return backend


def _use_torch(backend: str, device: DeviceInfo | None) -> bool:
    """``auto``: our torch code on ``cuda`` (implicit's PyPI wheel has no CUDA), the CPU libraries elsewhere."""
    return backend == "torch" or (backend == "auto" and device is not None and device.kind == "cuda")


class Component(ABC):
    kind: str

    @abstractmethod
    def fit(self, matrix: sp.csr_matrix, device: DeviceInfo | None = None, tick: Tick = _noop) -> None:
        """Learn from the weighted user × item matrix."""

    @abstractmethod
    def scores(self, rows: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        """Scores (len(rows) × items, float32). ``users``: training row indices when known (−1 = not a training user)."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """Arrays that :meth:`from_state` restores the fitted component from."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Component:
        """Rebuild a fitted component."""

    def score_parts(self, row: sp.csr_matrix, users: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray, float]:
        """One history row's scores as ``(columns, values, fill)``: ``values`` over those item columns (None: every
        item) and ``fill`` for every other item, so a partial model need not write a whole catalog of scores."""
        return None, self.scores(row, users)[0], 0.0

    def item_vectors(self) -> np.ndarray | None:
        """Per-item embedding whose cosine similarity means 'liked by the same shoppers', if the model has one."""
        return None


class EASE(Component):
    """EASE over the whole catalog, or (``head_items``) over the items with the most shoppers only.

    A head model scores the other items with the row's mean head score — neutral once standardised, so in a blend
    the tail is ranked by the other component — and explains and finds neighbours through that component too.
    """

    kind = "ease"

    def __init__(self, l2: float = 500.0, backend: str = "auto", head_items: int | None = None) -> None:
        self.l2 = float(l2)
        self.backend = _check_backend(backend)
        self.head_items = head_items
        self.used_backend = ""
        self.weights: np.ndarray | None = None  # columns × columns, zero diagonal
        self.columns: np.ndarray | None = None  # the item columns EASE covers (None: all)
        self.n_items = 0

    @property
    def is_dense(self) -> bool:
        return self.columns is None

    def fit(self, matrix: sp.csr_matrix, device: DeviceInfo | None = None, tick: Tick = _noop) -> None:
        self.n_items = matrix.shape[1]
        if self.head_items is not None and self.head_items < self.n_items:
            support = np.bincount(matrix.indices, minlength=self.n_items)
            self.columns = np.sort(np.argsort(-support, kind="stable")[: self.head_items]).astype(np.int64)
            matrix = matrix[:, self.columns]
        else:
            self.columns = None
        gram = (matrix.T @ matrix).toarray().astype(np.float64)
        tick(0.3)
        if _use_torch(self.backend, device):
            import torch

            self.used_backend = "torch"
            g = torch.from_numpy(gram).to(device.name if device is not None and device.kind == "cuda" else "cpu")
            del gram
            g.diagonal().add_(self.l2)
            precision = torch.linalg.inv(g)
            del g
            b = precision / (-torch.diagonal(precision))
            del precision
            b.fill_diagonal_(0.0)
            self.weights = b.float().cpu().numpy()
        else:
            self.used_backend = "numpy"
            gram[np.diag_indices_from(gram)] += self.l2
            precision = np.linalg.inv(gram)
            del gram
            precision /= -np.diag(precision)
            np.fill_diagonal(precision, 0.0)
            self.weights = precision.astype(np.float32)
        tick(1.0)

    def scores(self, rows: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        if self.columns is None:
            return np.asarray(rows.astype(np.float32) @ self.weights, dtype=np.float32)
        head = np.asarray(rows[:, self.columns].astype(np.float32) @ self.weights, dtype=np.float32)
        out = np.empty((rows.shape[0], self.n_items), dtype=np.float32)
        out[:] = head.mean(axis=1, keepdims=True)
        out[:, self.columns] = head
        return out

    def score_parts(self, row: sp.csr_matrix, users: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray, float]:
        if self.columns is None:
            return None, self.scores(row, users)[0], 0.0
        head = np.asarray(row[:, self.columns].astype(np.float32) @ self.weights, dtype=np.float32)[0]
        return self.columns, head, float(head.mean()) if head.size else 0.0

    def state(self) -> dict[str, np.ndarray]:
        state = {"weights": self.weights, "l2": np.float64(self.l2), "n_items": np.int64(self.n_items)}
        if self.columns is not None:
            state["columns"] = self.columns
        return state

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> EASE:
        model = cls(float(state["l2"]))
        model.weights = state["weights"]
        model.columns = state.get("columns")
        model.n_items = int(state["n_items"]) if "n_items" in state else model.weights.shape[0]
        return model

    def item_vectors(self) -> np.ndarray | None:
        # Row i of B says which items i predicts: items with similar rows are bought by the same shoppers.
        return self.weights if self.columns is None else None


class _Factors(Component):
    """Shared by factor models: fold-in of new histories and concatenated ensembles of seeds."""

    def __init__(self, factors: int, regularization: float, confidence: Confidence, alpha: float) -> None:
        self.factors = int(factors)
        self.regularization = float(regularization)
        self.confidence = confidence
        self.alpha = float(alpha)
        self.user_factors: np.ndarray | None = None  # users × (members · factors)
        self.item_factors: np.ndarray | None = None  # items × (members · factors)
        self.members = 1
        self._gram_cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._moments: tuple[np.ndarray, np.ndarray] | None = None

    def _weighted(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        return (self.confidence.transform(rows) * self.alpha).tocsr()

    def user_vectors(self, rows: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        """One vector per row: the training user's factors when known, else folded in from the row's history."""
        known = np.zeros(rows.shape[0], dtype=bool) if users is None or self.user_factors is None else np.asarray(users) >= 0
        user_vectors = np.zeros((rows.shape[0], self.item_factors.shape[1]), dtype=np.float32)
        if known.any():
            user_vectors[known] = self.user_factors[np.asarray(users)[known]]
        if not known.all():
            user_vectors[~known] = self.fold_in(rows[np.flatnonzero(~known)])
        return user_vectors

    def scores(self, rows: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        return np.asarray(self.user_vectors(rows, users) @ self.item_factors.T, dtype=np.float32)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Σ item vectors and Σ v vᵀ over every item (float64, computed once per loaded model): the sum and sum of
        squares of a user's scores over the whole catalog are u·s and uᵀ G u, without scoring every item."""
        if self._moments is None:
            items = np.asarray(self.item_factors, dtype=np.float64)
            self._moments = (items.sum(axis=0), items.T @ items)
        return self._moments

    def fold_in(self, rows: sp.csr_matrix) -> np.ndarray:
        """Least-squares user vectors for histories the model has not seen (as implicit's recalculate_user)."""
        weighted = self._weighted(rows)
        width = self.item_factors.shape[1]
        out = np.zeros((rows.shape[0], width), dtype=np.float32)
        for m, (items, yty) in enumerate(self._gram()):
            cols = slice(m * self.factors, (m + 1) * self.factors)
            for r in range(rows.shape[0]):
                start, end = weighted.indptr[r], weighted.indptr[r + 1]
                if start == end:
                    continue
                idx, conf = weighted.indices[start:end], weighted.data[start:end].astype(np.float64)
                y = items[idx]
                a = yty + (y.T * (conf - 1.0)) @ y
                out[r, cols] = np.linalg.solve(a, y.T @ conf)
        return out

    def _gram(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per ensemble member: its item factors (float64) and YᵀY + λI, computed once per loaded model."""
        if self._gram_cache is None:
            grams = []
            for m in range(self.members):
                items = self.item_factors[:, m * self.factors : (m + 1) * self.factors].astype(np.float64)
                grams.append((items, items.T @ items + self.regularization * np.eye(self.factors)))
            self._gram_cache = grams
        return self._gram_cache

    def item_vectors(self) -> np.ndarray | None:
        return self.item_factors

    def _base_state(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "factors": np.int64(self.factors),
            "members": np.int64(self.members),
            "regularization": np.float64(self.regularization),
            "alpha": np.float64(self.alpha),
            "confidence_scheme": np.array(self.confidence.scheme),
            "confidence_k1": np.float64(self.confidence.k1),
            "confidence_b": np.float64(self.confidence.b),
            "confidence_idf": self.confidence.idf,
            "confidence_average_length": np.float64(self.confidence.average_length),
        }

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors, self.item_factors = state["user_factors"], state["item_factors"]
        self.members = int(state["members"])

    @staticmethod
    def _confidence_from(state: dict[str, np.ndarray]) -> Confidence:
        return Confidence(
            scheme=str(state["confidence_scheme"]),
            k1=float(state["confidence_k1"]),
            b=float(state["confidence_b"]),
            idf=state["confidence_idf"],
            average_length=float(state["confidence_average_length"]),
        )


class ALS(_Factors):
    kind = "als"

    def __init__(
        self,
        factors: int = 16,
        regularization: float = 10.0,
        iterations: int = 15,
        alpha: float = 1.0,
        confidence: Confidence | None = None,
        seed: int = 0,
        members: int = 1,
        backend: str = "auto",
    ) -> None:
        super().__init__(factors, regularization, confidence or Confidence("bm25"), alpha)
        self.iterations = int(iterations)
        self.seed = int(seed)
        self.members = int(members)
        self.backend = _check_backend(backend)
        self.used_backend = ""

    def fit(self, matrix: sp.csr_matrix, device: DeviceInfo | None = None, tick: Tick = _noop) -> None:
        self.confidence.fit(matrix)
        weighted = self._weighted(matrix)
        use_torch = _use_torch(self.backend, device)
        users, items = [], []
        for m in range(self.members):
            seed = self.seed + m
            member_tick = lambda f, m=m: tick((m + f) / self.members)  # noqa: E731
            if use_torch:
                u, i = torch_als(weighted, self.factors, self.regularization, self.iterations, seed, device, member_tick)
            else:
                u, i = self._fit_implicit(weighted, seed)
                member_tick(1.0)
            users.append(u)
            items.append(i)
        self.used_backend = "torch" if use_torch else "implicit"
        self._gram_cache = self._moments = None
        self.user_factors = np.hstack(users).astype(np.float32)
        self.item_factors = np.hstack(items).astype(np.float32)

    def _fit_implicit(self, weighted: sp.csr_matrix, seed: int) -> tuple[np.ndarray, np.ndarray]:
        from implicit.cpu.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            iterations=self.iterations,
            alpha=1.0,
            random_state=seed,
            num_threads=_threads(),
        )
        model.fit(weighted, show_progress=False)
        return np.asarray(model.user_factors), np.asarray(model.item_factors)

    def state(self) -> dict[str, np.ndarray]:
        return {**self._base_state(), "iterations": np.int64(self.iterations)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> ALS:
        model = cls(
            factors=int(state["factors"]),
            regularization=float(state["regularization"]),
            iterations=int(state["iterations"]),
            alpha=float(state["alpha"]),
            confidence=cls._confidence_from(state),
        )
        model._restore(state)
        return model


class BPR(_Factors):
    kind = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        confidence: Confidence | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(factors, regularization, confidence or Confidence("none"), 1.0)
        self.learning_rate = float(learning_rate)
        self.iterations = int(iterations)
        self.seed = int(seed)

    def fit(self, matrix: sp.csr_matrix, device: DeviceInfo | None = None, tick: Tick = _noop) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        self.confidence.fit(matrix)
        model = BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.seed,
            num_threads=_threads(),
        )
        model.fit(self._weighted(matrix), show_progress=False)
        # implicit appends an item-bias column (users carry a constant 1 there): keep both as plain factors.
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        self.factors = self.item_factors.shape[1]
        self._gram_cache = self._moments = None
        tick(1.0)

    def state(self) -> dict[str, np.ndarray]:
        return {**self._base_state(), "learning_rate": np.float64(self.learning_rate), "iterations": np.int64(self.iterations)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> BPR:
        model = cls(
            factors=int(state["factors"]),
            learning_rate=float(state["learning_rate"]),
            regularization=float(state["regularization"]),
            iterations=int(state["iterations"]),
            confidence=cls._confidence_from(state),
        )
        model._restore(state)
        return model


class StaticScores(Component):
    """The same score vector for everyone: popularity or recent trending (computed by the trainer)."""

    kind = "static"

    def __init__(self, values: np.ndarray | None = None) -> None:
        self.values = None if values is None else np.asarray(values, dtype=np.float32)

    def fit(self, matrix: sp.csr_matrix, device: DeviceInfo | None = None, tick: Tick = _noop) -> None:
        if self.values is None:
            self.values = popularity(matrix)
        tick(1.0)

    def scores(self, rows: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        return np.broadcast_to(self.values, (rows.shape[0], self.values.shape[0])).copy()

    def state(self) -> dict[str, np.ndarray]:
        return {"values": self.values}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> StaticScores:
        return cls(state["values"])


def popularity(matrix: sp.csr_matrix) -> np.ndarray:
    """log(1 + number of shoppers who interacted with each item)."""
    counts = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float64)
    return np.log1p(counts).astype(np.float32)


def trending(item_columns: np.ndarray, weights: np.ndarray, timestamps: np.ndarray, n_items: int, *, half_life_days: float, now: float) -> np.ndarray:
    """Event weight summed with exponential time decay: an event ``half_life_days`` old counts half."""
    age_days = np.maximum(now - timestamps, 0.0) / 86400.0
    decayed = weights * np.power(0.5, age_days / half_life_days)
    return np.log1p(np.bincount(item_columns, weights=decayed, minlength=n_items)).astype(np.float32)


COMPONENTS: dict[str, type[Component]] = {"ease": EASE, "als": ALS, "bpr": BPR, "static": StaticScores}


def _threads() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1), 8))


def torch_als(
    weighted: sp.csr_matrix, factors: int, regularization: float, iterations: int, seed: int, device: DeviceInfo | None, tick: Tick = _noop
) -> tuple[np.ndarray, np.ndarray]:
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with exact batched solves in torch.

    Confidence c = the weighted matrix value; the user step solves (YᵀY + Σ (c−1) y yᵀ + λI) x = Σ c y for every
    user at once, and the item step likewise on the transpose — the same equations ``implicit`` solves on CPU.
    """
    import torch

    dev = torch.device(device.name if device is not None else "cpu")
    gen = torch.Generator().manual_seed(seed)
    n_users, n_items = weighted.shape
    # implicit initialises with small random values; so do we.
    user_f = (torch.rand(n_users, factors, generator=gen) * 0.01).to(dev)
    item_f = (torch.rand(n_items, factors, generator=gen) * 0.01).to(dev)
    by_user = _csr_tensors(weighted, dev)
    by_item = _csr_tensors(weighted.T.tocsr(), dev)
    for it in range(iterations):
        user_f = _solve_side(by_user, item_f, regularization)
        item_f = _solve_side(by_item, user_f, regularization)
        tick((it + 1) / iterations)
    return user_f.cpu().numpy(), item_f.cpu().numpy()


def _csr_tensors(matrix: sp.csr_matrix, dev):  # noqa: ANN001, ANN202
    import torch

    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return (
        matrix.shape[0],
        torch.from_numpy(rows.astype(np.int64)).to(dev),
        torch.from_numpy(matrix.indices.astype(np.int64)).to(dev),
        torch.from_numpy(matrix.data.astype(np.float32)).to(dev),
    )


def _solve_side(side, other, regularization: float):  # noqa: ANN001, ANN202
    import torch

    n, rows, cols, conf = side
    f = other.shape[1]
    eye = torch.eye(f, device=other.device)
    a = (other.T @ other + regularization * eye).expand(n, f, f).clone()
    b = torch.zeros(n, f, device=other.device)
    # Outer products per non-zero, in chunks so memory stays bounded for large factor counts.
    chunk = max(1, 8_000_000 // (f * f))
    for start in range(0, rows.numel(), chunk):
        r, c, w = rows[start : start + chunk], cols[start : start + chunk], conf[start : start + chunk]
        y = other[c]
        a.index_add_(0, r, (w - 1.0)[:, None, None] * y[:, :, None] * y[:, None, :])
        b.index_add_(0, r, w[:, None] * y)
    return torch.linalg.solve(a, b)
