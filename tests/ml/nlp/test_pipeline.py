"""The FAQ searcher on the pretrained encoder: a rebuild after an edit encodes only what changed."""

import numpy as np
import pytest

from ml.device import select_device
from ml.nlp.encoder import Encoder
from ml.nlp.pipeline import FaqArticleText, FaqSearcher

ARTICLES = [
    FaqArticleText(1, "How do I return an item?", "Returns are free within 30 days."),
    FaqArticleText(2, "How much is shipping?", "Shipping costs 4.90 EUR, free from 50 EUR."),
    FaqArticleText(3, "Which payment methods do you accept?", "Cards, PayPal and invoice."),
    FaqArticleText(4, "Can I change my delivery address?", "Yes, until the order ships."),
]


@pytest.fixture(scope="module")
def encoder():
    return Encoder.pretrained(select_device("cpu"))


def test_a_rebuild_encodes_only_new_or_edited_questions_and_searches_as_a_fresh_build(encoder):
    first = FaqSearcher(ARTICLES, encoder)
    assert first.encoded == 4
    edited = [
        ARTICLES[0],
        FaqArticleText(2, "What does delivery cost?", ARTICLES[1].answer),  # edited question
        ARTICLES[2],  # article 4 removed; two new ones, one asking an old question again
        FaqArticleText(5, "Do you ship abroad?", "We ship to every EU country."),
        FaqArticleText(6, "How do I return an item?", "Print the label from your account."),
    ]
    rebuilt = FaqSearcher(edited, encoder, previous=first)
    assert rebuilt.encoded == 2
    fresh = FaqSearcher(edited, encoder)
    assert fresh.encoded == 4  # distinct questions only
    assert np.allclose(rebuilt.index.embeddings, fresh.index.embeddings, atol=1e-5)
    for query in ("what does it cost to deliver", "returning something", "ship to Spain?"):
        assert [(a.key, round(h.score, 6)) for a, h in rebuilt.search(query, k=3)] == [(a.key, round(h.score, 6)) for a, h in fresh.search(query, k=3)]
    assert rebuilt.search("What does delivery cost?", k=1, mode="dense")[0][0].key == 2
    # Unchanged articles: nothing encoded at all.
    assert FaqSearcher(edited, encoder, previous=rebuilt).encoded == 0


def test_embeddings_of_another_encoder_are_not_reused(encoder):
    first = FaqSearcher(ARTICLES, encoder)
    other = Encoder(encoder.tokenizer, encoder.model, encoder.device)
    assert FaqSearcher(ARTICLES, other, previous=first).encoded == 4
    assert FaqSearcher([], encoder, previous=first).index.embeddings.shape == (0, encoder.dim)
