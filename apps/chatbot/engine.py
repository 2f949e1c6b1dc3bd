"""The bot: classify → out-of-scope check → action (FAQ answer, order status, recommendations, handoff, reply).

Every bot message records the intent and confidence of the message it answers, the model version, and what
produced the answer (``answer_source``), for the operator and for retraining.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Max

from apps.chatbot.batching import InferenceBatcher
from apps.chatbot.families import INTENT_FAMILY
from apps.chatbot.models import AnswerSource, Conversation, FaqArticle, Intent, IntentAction, Message, Sender
from apps.mlops.serving import model_cache
from ml.nlp.encoder import set_inference_threads
from ml.nlp.entities import Entities, extract_entities
from ml.nlp.intent import IntentPrediction
from ml.nlp.pipeline import FaqArticleText, FaqSearcher

logger = logging.getLogger(__name__)

HUMAN_QUICK_REPLY = "Talk to a human"


@dataclass
class Understood:
    prediction: IntentPrediction | None
    model_version: str
    entities: Entities
    # The message's pretrained MiniLM embedding when the intent pass produced it (saves a pass for FAQ search).
    embedding: Any = None

    def message_fields(self) -> dict[str, Any]:
        p = self.prediction
        return {
            "intent": (p.best_guess if p else "")[:80],
            "confidence": round(p.confidence, 4) if p else None,
            "out_of_scope": bool(p.out_of_scope) if p else False,
            "model_version": self.model_version,
            "entities": self.entities.to_dict(),
        }


# --- FAQ index: built once per process from the active articles, rebuilt when they change ----------------

_lock = threading.Lock()
_encoder = None
_faq: tuple[tuple, FaqSearcher, dict[int, str]] | None = None


def _pretrained_encoder():  # noqa: ANN202
    global _encoder
    if _encoder is None:
        from ml.device import select_device
        from ml.nlp.encoder import Encoder

        _encoder = Encoder.pretrained(select_device())
    return _encoder


def faq_searcher() -> FaqSearcher:
    return _faq_index()[1]


def _faq_index() -> tuple[tuple, FaqSearcher, dict[int, str]]:
    """The FAQ searcher and each active article's category, rebuilt when the active articles change (one query).

    A rebuild encodes only the questions the current index lacks (an edited or added article), not all of them."""
    global _faq
    active = FaqArticle.objects.filter(is_active=True)
    stamp = active.aggregate(n=Count("id"), latest=Max("updated_at"))
    key = (stamp["n"], stamp["latest"])
    with _lock:
        if _faq is None or _faq[0] != key:
            rows = list(active.order_by("id"))
            articles = [FaqArticleText(a.pk, a.question, a.answer) for a in rows]
            searcher = FaqSearcher(articles, _pretrained_encoder(), previous=_faq[1] if _faq is not None else None)
            _faq = (key, searcher, {a.pk: a.category for a in rows})
        return _faq


def warm_up() -> None:
    """Load the production intent model and the FAQ index and run one message through them, so the first
    customer of a fresh web process does not wait seconds for the loading. Failures are logged, never raised:
    a process without a model or a database still starts (replies then load on demand)."""
    from django.db import connection

    started = time.monotonic()
    try:
        set_inference_threads(settings.CHATBOT_INFERENCE_THREADS)
        version = model_cache.production(INTENT_FAMILY)
        if version is not None:
            model_cache.predictor(version).classify_and_embed(["hello"])
        faq_searcher().search("hello")
        logger.info("chatbot warmed up in %.1f s (intent model %s)", time.monotonic() - started, version or "none")
    except Exception:
        logger.exception("chatbot warm-up failed; replies will load the models on demand")
    finally:
        connection.close()


# --- Understanding and replying ---------------------------------------------------------------------------


def understand(*, conversation: Conversation, text: str) -> Understood:
    entities = extract_entities(text)
    set_inference_threads(settings.CHATBOT_INFERENCE_THREADS)
    version = model_cache.production(INTENT_FAMILY)
    if version is None:
        return Understood(None, "", entities)
    predictor = model_cache.predictor(version)
    probs, embedding, typicality = inference_batcher().classify_and_embed(predictor, text)
    return Understood(predictor.predictions(probs, typicality)[0], str(version.version), entities, embedding)


_batcher: InferenceBatcher | None = None


def inference_batcher() -> InferenceBatcher:
    """The process's batcher of intent-model passes (``CHATBOT_INFERENCE_MAX_BATCH`` messages per pass at most)."""
    global _batcher
    if _batcher is None:
        with _lock:
            if _batcher is None:
                _batcher = InferenceBatcher(settings.CHATBOT_INFERENCE_MAX_BATCH)
    return _batcher


def _bot(conversation: Conversation, answering: Message, text: str, source: str, **extra: Any) -> Message:
    return Message.objects.create(
        conversation=conversation,
        sender=Sender.BOT,
        text=text,
        reply_to=answering,
        intent=answering.intent,
        confidence=answering.confidence,
        out_of_scope=answering.out_of_scope,
        model_version=answering.model_version,
        answer_source=source,
        **extra,
    )


def _faq_link(article: FaqArticleText) -> dict[str, Any]:
    return {"id": article.key, "question": article.question}


def reply(*, conversation: Conversation, message: Message, understanding: Understood) -> list[Message]:
    """The bot's answer to ``message`` (inside the caller's transaction); may hand the conversation off."""
    prediction = understanding.prediction
    intent = Intent.objects.filter(name=prediction.intent).first() if prediction and prediction.intent else None
    if intent is None:
        return [_not_sure(conversation, message, understanding.embedding)]
    if intent.action == IntentAction.HANDOFF:
        from apps.chatbot.services import handoff_request

        handoff_request(conversation=conversation, reason=f"intent {intent.name}")
        return []
    if intent.action == IntentAction.FAQ:
        return [_faq_answer(conversation, message, intent, understanding.embedding)]
    if intent.action == IntentAction.ORDER_STATUS:
        return [_order_status(conversation, message, intent, understanding.entities)]
    if intent.action == IntentAction.RECOMMEND:
        return [_recommend(conversation, message, intent, understanding.entities)]
    text = intent.response or "Okay."
    return [_bot(conversation, message, text, AnswerSource.INTENT, payload={"quick_replies": intent.quick_replies})]


def _not_sure(conversation: Conversation, message: Message, embedding: Any = None) -> Message:
    """Out of scope (or no model yet): never guess; offer the closest FAQ articles and a human."""
    found = faq_searcher().search(message.text, k=3, query_embedding=embedding)
    hits = [(a, h) for a, h in found if h.dense >= settings.CHATBOT_FAQ_SUGGEST_SIMILARITY]
    if hits:
        return _bot(
            conversation,
            message,
            "I'm not sure I understood. These articles might help — or I can get you a human.",
            AnswerSource.FAQ_SEARCH,
            payload={"faq_results": [_faq_link(a) | {"answer": a.answer} for a, _ in hits], "quick_replies": [HUMAN_QUICK_REPLY]},
        )
    return _bot(
        conversation,
        message,
        "Sorry, I can't help with that. Could you rephrase it, or shall I get you a human?",
        AnswerSource.FALLBACK,
        payload={"quick_replies": [HUMAN_QUICK_REPLY]},
    )


def _faq_answer(conversation: Conversation, message: Message, intent: Intent, embedding: Any = None) -> Message:
    _, searcher, categories = _faq_index()
    hits = searcher.search(message.text, k=5, query_embedding=embedding)
    confident = [(a, h) for a, h in hits if h.dense >= settings.CHATBOT_FAQ_ANSWER_SIMILARITY]
    if not confident:
        return _not_sure(conversation, message, embedding)
    # Prefer the article filed under this intent's topic when it is among the confident hits.
    same_topic = [pair for pair in confident if categories.get(pair[0].key) == intent.name]
    article, _ = (same_topic or confident)[0]
    lead = f"{intent.response}\n\n" if intent.response else ""
    return _bot(
        conversation,
        message,
        lead + article.answer,
        AnswerSource.FAQ,
        faq_article_id=article.key,
        payload={"faq": _faq_link(article), "quick_replies": intent.quick_replies},
    )


def _money(value: Decimal | None, currency: str) -> str:
    return f"{value:.2f} {currency}" if value is not None else ""


def _order_status(conversation: Conversation, message: Message, intent: Intent, entities: Entities) -> Message:
    from apps.commerce import selectors as shop

    if not conversation.customer_external_id:
        return _bot(
            conversation,
            message,
            "I can only look up orders for signed-in customers. Please sign in to the shop and open the chat again, or ask for a human.",
            AnswerSource.ORDER,
            payload={"quick_replies": [HUMAN_QUICK_REPLY]},
        )
    customer = conversation.customer_external_id
    if entities.order_numbers:
        lines = []
        for number in entities.order_numbers[:3]:
            order = shop.order_for_customer(number=number, external_id=customer)
            # Someone else's order and a missing one read the same: nothing leaks about other customers.
            lines.append(_order_line(order) if order is not None else f"I couldn't find order {number} on your account.")
        return _bot(conversation, message, "\n".join(lines), AnswerSource.ORDER, payload={"orders": entities.order_numbers[:3]})
    orders = list(shop.customer_orders(external_id=customer, limit=3))
    if not orders:
        return _bot(conversation, message, "I can't find any orders on your account yet.", AnswerSource.ORDER)
    text = "Here are your latest orders:\n" + "\n".join(_order_line(o) for o in orders)
    return _bot(conversation, message, text, AnswerSource.ORDER, payload={"orders": [o.number for o in orders]})


def _order_line(order: Any) -> str:
    text = f"Order {order.number} ({order.placed_at:%d %b %Y}, {_money(order.total, order.currency)}): {order.get_status_display()}"
    if order.carrier or order.tracking_number:
        text += f", shipped with {order.carrier or 'the carrier'}" + (f" (tracking {order.tracking_number})" if order.tracking_number else "")
    if order.estimated_delivery and order.status in ("paid", "shipped"):
        text += f", expected {order.estimated_delivery:%d %b}"
    return text + "."


def _recommend(conversation: Conversation, message: Message, intent: Intent, entities: Entities) -> Message:
    unavailable = "Product suggestions aren't available right now. A member of our team can advise you."
    try:
        from apps.recommendations.services import recommendations_for
    except ImportError:  # the recommendations app is not installed on this deployment
        return _bot(conversation, message, unavailable, AnswerSource.FALLBACK, payload={"quick_replies": [HUMAN_QUICK_REPLY]})
    try:
        result = recommendations_for(
            customer_external_id=conversation.customer_external_id or None,
            session_skus=entities.skus or None,
            n=settings.CHATBOT_RECOMMENDATIONS,
            in_stock=True,
        )
    except LookupError:  # no recommendation model trained yet (NoRecommendationModel)
        return _bot(conversation, message, unavailable, AnswerSource.FALLBACK, payload={"quick_replies": [HUMAN_QUICK_REPLY]})
    if not result.items:
        text = "I have no suggestions for you yet. A member of our team can advise you."
        return _bot(conversation, message, text, AnswerSource.RECOMMENDATIONS, payload={"quick_replies": [HUMAN_QUICK_REPLY]})
    cards = [
        {"sku": i.sku, "title": i.title, "price": str(i.price) if i.price is not None else "", "category": i.category, "reason": i.reason} for i in result.items
    ]
    payload = {"products": cards, "recommendation_id": str(result.id), "recommendations_model": str(result.model_version)}
    return _bot(conversation, message, intent.response or "You might like these:", AnswerSource.RECOMMENDATIONS, payload=payload)
