"""FAQ retrieval: BM25 over words + dense MiniLM cosine similarity, fused by reciprocal rank (RRF).

BM25 is implemented here (Okapi BM25, k1=1.5, b=0.75) so no extra package is needed; documents are an
article's question and answer, with the question counted twice so that a match on it weighs more.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOKEN_RE = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an the and or of to in on for is are was be been it its i my me you your we our do does did can could "
    "how what when where which who why will would should with at by from this that there these those as if so "
    "am have has had not no".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords, with a light plural strip (cards → card)."""
    out = []
    for token in TOKEN_RE.findall(str(text).lower()):
        if token in STOPWORDS:
            continue
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            token = token[:-1]
        out.append(token)
    return out


class BM25:
    """Okapi BM25 with the per-term contributions precomputed (an inverted index): scoring a query touches only
    the documents that contain its terms, not every document in Python (0.9 ms → a few µs on 1,764 FAQs)."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.n_docs = len(documents)
        doc_freqs = [Counter(doc) for doc in documents]
        doc_len = np.array([len(doc) for doc in documents], dtype=np.float64)
        avg_len = float(doc_len.mean()) if len(documents) else 0.0
        norm = k1 * (1 - b + b * doc_len / max(avg_len, 1e-9))
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for d, freqs in enumerate(doc_freqs):
            for term, tf in freqs.items():
                docs, tfs = postings.setdefault(term, ([], []))
                docs.append(d)
                tfs.append(tf)
        n = len(documents)
        self.idf = {term: math.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5)) for term, (docs, _) in postings.items()}
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (docs, tfs) in postings.items():
            idx, tf = np.array(docs, dtype=np.int64), np.array(tfs, dtype=np.float64)
            self.postings[term] = (idx, self.idf[term] * tf * (k1 + 1) / (tf + norm[idx]))

    def scores(self, query: Sequence[str]) -> np.ndarray:
        out = np.zeros(self.n_docs)
        for term in set(query):
            posting = self.postings.get(term)
            if posting is not None:
                out[posting[0]] += posting[1]  # a term's documents are distinct: plain fancy-index add is exact
        return out


def top_indices(scores: np.ndarray, depth: int) -> np.ndarray:
    """The ``depth`` highest-scoring indices, best first, ties by index (as a stable argsort of ``-scores``), without
    sorting everything."""
    if depth >= len(scores):
        return np.argsort(-scores, kind="stable")
    kth = np.partition(scores, len(scores) - depth)[len(scores) - depth]
    candidates = np.flatnonzero(scores >= kth)
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order][:depth]


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> dict[int, float]:
    """Reciprocal-rank fusion: each ranking adds 1 / (k + rank) (rank from 1) to a document's score."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return scores


@dataclass(frozen=True)
class Hit:
    index: int  # position of the article in the list given to the index
    score: float  # fused RRF score
    dense: float  # cosine similarity of the query and the article (how close the best match really is)
    bm25: float


class FaqIndex:
    """Hybrid index over articles; ``embed`` maps texts to unit vectors (the MiniLM encoder in production)."""

    def __init__(self, questions: Sequence[str], answers: Sequence[str], embeddings: np.ndarray, depth: int = 50, rrf_k: int = 60) -> None:
        if len(questions) != len(answers) or len(questions) != len(embeddings):
            raise ValueError("questions, answers and embeddings must have the same length")
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.bm25 = BM25([tokenize(q) * 2 + tokenize(a) for q, a in zip(questions, answers, strict=True)])
        self.depth, self.rrf_k = depth, rrf_k

    def __len__(self) -> int:
        return len(self.embeddings)

    def search(self, query: str, query_embedding: np.ndarray, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        if len(self) == 0:
            return []
        dense = self.embeddings @ np.asarray(query_embedding, dtype=np.float32).reshape(-1)
        lexical = self.bm25.scores(tokenize(query))
        depth = min(self.depth, len(self))
        dense_rank = top_indices(dense, depth).tolist()
        lexical_rank = [i for i in top_indices(lexical, depth).tolist() if lexical[i] > 0]
        if mode == "dense":
            fused = {int(i): float(dense[i]) for i in dense_rank}
        elif mode == "bm25":
            fused = {int(i): float(lexical[i]) for i in lexical_rank}
        elif mode == "hybrid":
            fused = rrf([dense_rank, lexical_rank], self.rrf_k)
        else:
            raise ValueError(f"unknown retrieval mode {mode!r} (hybrid, dense or bm25)")
        ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [Hit(int(i), float(s), float(dense[i]), float(lexical[i])) for i, s in ranked]
