import math

import numpy as np
import pytest

from ml.nlp.retrieval import BM25, FaqIndex, rrf, tokenize


def test_tokenize_drops_stopwords_and_plural_s():
    assert tokenize("How do I return my Cards?") == ["return", "card"]


def test_bm25_hand_computed():
    docs = [["apple", "banana"], ["apple", "apple", "cherry", "date"]]
    bm25 = BM25(docs, k1=1.5, b=0.75)
    avg = 3.0
    idf_apple = math.log(1 + (2 - 2 + 0.5) / (2 + 0.5))
    idf_banana = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))
    norm0 = 1.5 * (1 - 0.75 + 0.75 * 2 / avg)
    norm1 = 1.5 * (1 - 0.75 + 0.75 * 4 / avg)
    expected0 = idf_apple * 1 * 2.5 / (1 + norm0) + idf_banana * 1 * 2.5 / (1 + norm0)
    expected1 = idf_apple * 2 * 2.5 / (2 + norm1)
    assert bm25.scores(["apple", "banana"]) == pytest.approx([expected0, expected1])
    assert bm25.scores(["unknown"]).tolist() == [0.0, 0.0]


def test_rrf_hand_computed():
    scores = rrf([[1, 2, 3], [3, 1]], k=60)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)


def test_hybrid_search_fuses_dense_and_lexical_rankings():
    questions = ["How do I return an item?", "How much is shipping?", "Which payment methods?"]
    answers = ["Returns are free within 30 days.", "Shipping costs 4.90 EUR.", "We take cards and PayPal."]
    embeddings = np.eye(3, dtype=np.float32)
    index = FaqIndex(questions, answers, embeddings)
    # Dense says article 2, words say article 1 ("shipping"): RRF ranks both, lexical tie broken by id.
    query_vector = np.array([0, 0, 1], dtype=np.float32)
    hits = index.search("shipping price", query_vector, k=3)
    assert {h.index for h in hits[:2]} == {1, 2}
    assert index.search("shipping price", query_vector, k=1, mode="bm25")[0].index == 1
    assert index.search("shipping price", query_vector, k=1, mode="dense")[0].index == 2
    assert hits[0].dense in (0.0, 1.0)
    with pytest.raises(ValueError):
        index.search("x", query_vector, mode="nope")
