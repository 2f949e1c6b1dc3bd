"""Micro-batching of the intent model across the replies a web process computes at the same time.

One message through the model costs about 10 ms on one CPU thread; eight in one pass cost about 2 ms each, because
the per-layer overhead of a pass dominates short messages. Concurrent replies (each in its own thread under ASGI)
therefore hand their message to :class:`InferenceBatcher`: the first caller runs the model on its message at once
(no added wait when the process is idle); whoever arrives while a pass runs is queued and goes into the next pass,
up to ``CHATBOT_INFERENCE_MAX_BATCH`` messages. A caller whose message is done hands the leading role to the next
queued one, so nobody computes other people's answers for longer than its own needs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np


class _Item:
    __slots__ = ("done", "embedding", "error", "event", "predictor", "probs", "promoted", "text", "typicality")

    def __init__(self, predictor: Any, text: str) -> None:
        self.predictor = predictor
        self.text = text
        self.event = threading.Event()
        self.promoted = False
        self.done = False
        self.probs: np.ndarray | None = None
        self.embedding: np.ndarray | None = None
        self.typicality: np.ndarray | None = None
        self.error: BaseException | None = None


class InferenceBatcher:
    """``classify_and_embed(predictor, text)``: the predictor's probabilities, embedding row and typicality for one
    text, computed in a pass shared with the texts other threads submit meanwhile. Thread-safe; one per process."""

    def __init__(self, max_batch: int = 8) -> None:
        self.max_batch = max(1, int(max_batch))
        self._lock = threading.Lock()
        self._pending: list[_Item] = []
        self._running = False
        self.passes = 0  # model passes run (for tests and diagnostics)
        self.largest_batch = 0

    def classify_and_embed(self, predictor: Any, text: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        item = _Item(predictor, text)
        with self._lock:
            self._pending.append(item)
            lead = not self._running
            self._running = True
        if not lead:
            item.event.wait()
        if not item.done:  # we lead (first caller, or promoted by the previous leader)
            self._lead(item)
        if item.error is not None:
            raise item.error
        return item.probs, item.embedding, item.typicality

    def _lead(self, mine: _Item) -> None:
        try:
            while not mine.done:
                with self._lock:
                    batch = self._pending[: self.max_batch]
                    del self._pending[: self.max_batch]
                self._run(batch)
        finally:
            with self._lock:
                if self._pending:
                    successor = self._pending[0]
                    successor.promoted = True
                    successor.event.set()
                else:
                    self._running = False

    def _run(self, batch: Sequence[_Item]) -> None:
        groups: dict[int, list[_Item]] = {}
        for item in batch:  # a model swap mid-way can mix predictors in one batch
            groups.setdefault(id(item.predictor), []).append(item)
        for items in groups.values():
            try:
                probs, embeddings, typicality = items[0].predictor.classify_and_embed([i.text for i in items])
            except BaseException as exc:  # noqa: BLE001 - handed to each caller, raised in its own thread
                for i in items:
                    i.error = exc
            else:
                for row, i in enumerate(items):
                    i.probs = probs[row : row + 1]
                    i.embedding = None if embeddings is None else embeddings[row]
                    i.typicality = None if typicality is None else typicality[row : row + 1]
            self.passes += 1
            self.largest_batch = max(self.largest_batch, len(items))
            for i in items:
                i.done = True
                if not i.promoted:
                    i.event.set()
