"""Understanding one customer message end to end: intent (with out-of-scope refusal), entities, FAQ hits.

The product's bot engine and the benchmark both call :meth:`Understanding.understand`, so the latency the
benchmark reports is the latency of the product's own code path (the engine then adds database look-ups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml.nlp.encoder import Encoder, ReusedEmbeddings
from ml.nlp.entities import Entities, extract_entities
from ml.nlp.intent import IntentPrediction, IntentPredictor
from ml.nlp.retrieval import FaqIndex, Hit


@dataclass(frozen=True)
class FaqArticleText:
    key: Any  # the caller's id for the article (a database pk, a row number)
    question: str
    answer: str


@dataclass
class Understanding:
    prediction: IntentPrediction
    entities: Entities
    faq: list[tuple[FaqArticleText, Hit]] = field(default_factory=list)


class FaqSearcher:
    """A :class:`FaqIndex` over articles embedded with the pretrained encoder (semantic similarity).

    Rebuilt after an edit with ``previous`` (the searcher it replaces, on the same encoder), it encodes only the
    questions ``previous`` has not embedded and reuses the other embeddings, found by their text: editing one article
    of 10,000 costs one encoder pass, not 10,000. ``encoded`` says how many texts this build encoded.
    """

    def __init__(self, articles: Sequence[FaqArticleText], encoder: Encoder, previous: FaqSearcher | None = None) -> None:
        self.articles = list(articles)
        self.encoder = encoder
        texts = [a.question for a in self.articles]
        self.embedded = ReusedEmbeddings(encoder, texts, texts, previous.embedded if previous is not None else None)
        self.encoded = self.embedded.encoded
        embeddings = self.embedded.embeddings
        self.index = FaqIndex(texts, [a.answer for a in self.articles], embeddings)

    def search(self, query: str, k: int = 3, mode: str = "hybrid", query_embedding: np.ndarray | None = None) -> list[tuple[FaqArticleText, Hit]]:
        """Best ``k`` articles; ``query_embedding`` saves an encoder pass when the caller already has it."""
        if not self.articles:
            return []
        if query_embedding is None:
            query_embedding = self.encoder.encode([query])[0]
        hits = self.index.search(query, query_embedding, k=k, mode=mode)
        return [(self.articles[h.index], h) for h in hits]


class Understander:
    def __init__(self, intents: IntentPredictor, faq: FaqSearcher | None = None) -> None:
        self.intents = intents
        self.faq = faq

    def understand(self, text: str, faq_k: int = 3, search_faq: bool = True) -> Understanding:
        # One encoder pass gives the intent and the query's FAQ embedding where the model allows it.
        probs, embeddings = self.intents.classify_and_embed([text])
        prediction = self.intents.predictions(probs)[0]
        hits = []
        if self.faq is not None and search_faq:
            hits = self.faq.search(text, k=faq_k, query_embedding=None if embeddings is None else embeddings[0])
        return Understanding(prediction, extract_entities(text), hits)
