"""Serving side: load a recommender artifact once per process and answer requests in a few milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from ml.core import Predictor
from ml.device import DeviceInfo
from ml.recommenders.model import Recommendation, RecommenderModel, SimilarItem, top_indices
from ml.recommenders.sizing import block_rows


class RecommenderPredictor(Predictor):
    """Wraps :class:`RecommenderModel`; scoring is NumPy on the CPU (one shopper at a time is too small for a GPU)."""

    def __init__(self, model: RecommenderModel, device: DeviceInfo | None = None) -> None:
        self.model = model
        self.device = device

    @classmethod
    def load(cls, artifact: Path, device: DeviceInfo | None = None) -> Self:
        return cls(RecommenderModel.load(artifact), device)

    @classmethod
    def check_file(cls, artifact: Path) -> None:
        """An ``.npz`` of plain arrays (loaded with ``allow_pickle=False``): a zip of ``.npy`` members only."""
        import zipfile

        from ml.pickle_scan import UnsafeFileError

        if not zipfile.is_zipfile(artifact):
            raise UnsafeFileError("not a NumPy .npz archive")
        with zipfile.ZipFile(artifact) as archive:
            others = [name for name in archive.namelist() if not name.endswith(".npy")]
        if others:
            raise UnsafeFileError(f"a recommender artifact holds .npy arrays only, not {', '.join(others[:3])}")

    def recommend(self, **request: Any) -> list[Recommendation]:
        return self.model.recommend(**request)

    def similar_items(self, item_id: int, n: int = 10, allowed_item_ids: set[int] | None = None, allowed_mask: np.ndarray | None = None) -> list[SimilarItem]:
        return self.model.similar_items(item_id, n, allowed_item_ids, allowed_mask)

    def similar_to_text(self, text: str, n: int = 10, allowed_item_ids: set[int] | None = None, allowed_mask: np.ndarray | None = None) -> list[SimilarItem]:
        """Neighbours of a product the model has never seen, by its text (loads the MiniLM encoder on first use)."""
        if self.model.embeddings is None or not text.strip():
            return []
        from ml.recommenders.content import embed_texts

        return self.model.similar_to_embedding(embed_texts([text], self.device)[0], n, allowed_item_ids, allowed_mask)

    def recommend_for_users(self, user_ids: Sequence[int], n: int, batch: int | None = None) -> dict[int, list[Recommendation]]:
        """``recommend(user_id=u, n=n)`` for many training users, scored ``batch`` rows at a time; unknown ids are skipped.

        The same items, scores, sources and "because" items as one call per user: users on the collaborative
        path share one matrix product per batch; the rare others (a static model, a history of cold items only)
        take the single-user path.
        """
        model = self.model
        batch = batch or block_rows(model.n_items)  # one block of dense scores stays a few million cells
        out: dict[int, list[Recommendation]] = {}
        pending: list[tuple[int, int]] = []
        for uid in user_ids:
            row = model.user_row(uid)
            if row is None:
                continue
            cols = model.history.indices[model.history.indptr[row] : model.history.indptr[row + 1]]
            if model.is_static or not (cols.size and model.warm[cols].any()):
                out[int(uid)] = model.recommend(user_id=int(uid), n=n)
            else:
                pending.append((int(uid), row))
        for start in range(0, len(pending), batch):
            chunk = pending[start : start + batch]
            idx = np.array([r for _, r in chunk])
            history = model.history[idx]
            scores = model.score_rows(history, idx).astype(np.float32, copy=True)
            scores[history.nonzero()] = -np.inf
            top = top_indices(scores, n)
            for k, (uid, _) in enumerate(chunk):
                row = history[k]
                cols = top[k][: max(min(n, model.n_items - row.nnz), 0)]
                because = model._because(row, cols, "personal")
                out[uid] = [
                    Recommendation(item_id=int(model.item_ids[c]), score=float(scores[k, c]), source="personal", because_item_id=b)
                    for c, b in zip(cols, because, strict=True)
                ]
        return out

    def predict_batch(self, items: Sequence[Any]) -> list[Any]:
        """Each item is a request dict for :meth:`recommend` (``user_id``, ``history``, ``n``, filters)."""
        return [self.recommend(**dict(item)) for item in items]
