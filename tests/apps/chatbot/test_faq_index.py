"""The per-process FAQ index: rebuilt when an article changes, encoding only that article's question."""

import pytest

from apps.chatbot import engine, services
from apps.chatbot.models import AnswerSource, FaqArticle
from tests.apps.chatbot.helpers import demo_site, train_intent_model

pytestmark = pytest.mark.django_db


def test_editing_one_article_re_encodes_only_it_and_the_bot_answers_with_the_edit():
    site = demo_site()
    train_intent_model()
    first = engine.faq_searcher()
    articles = FaqArticle.objects.filter(is_active=True).count()
    assert first.encoded == len({a.question for a in first.articles}) and len(first.articles) == articles > 5
    assert engine.faq_searcher() is first  # nothing changed: the same index

    article = FaqArticle.objects.get(question="What is your return policy?")
    article.question = "What is your policy on returning items?"
    article.answer = "Send anything back within 60 days, free of charge."
    article.save()
    rebuilt = engine.faq_searcher()
    assert rebuilt is not first and rebuilt.encoded == 1 and len(rebuilt.articles) == articles

    conversation = services.session_start(site_key=site.site_key)
    _, answer = services.customer_message_post(conversation=conversation, text="What is your return policy?")
    assert answer.answer_source == AnswerSource.FAQ and answer.faq_article_id == article.pk and "60 days" in answer.text

    FaqArticle.objects.filter(pk=article.pk).update(is_active=False)
    assert engine.faq_searcher().encoded == 0 and len(engine.faq_searcher().articles) == articles - 1
