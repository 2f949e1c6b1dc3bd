"""The bot: classify → out-of-scope check → action (FAQ answer, order status, recommendations, handoff, reply).

Every bot message records the intent and confidence of the message it answers, the model version, and what
produced the answer (``answer_source``), for the operator and for retraining.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Max

from apps.chatbot import shopping
from apps.chatbot.batching import InferenceBatcher
from apps.chatbot.dialogue import DialogueState
from apps.chatbot.families import INTENT_FAMILY
from apps.chatbot.models import AnswerSource, Conversation, FaqArticle, Intent, IntentAction, Message, Sender
from apps.mlops.serving import model_cache
from ml.nlp.catalog import Constraints
from ml.nlp.encoder import set_inference_threads
from ml.nlp.entities import Entities, extract_entities
from ml.nlp.followups import Refinement, pick_by_words, pick_index, refinement
from ml.nlp.intent import OOS_LABEL, IntentPrediction
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


def pretrained_encoder():  # noqa: ANN202
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
            searcher = FaqSearcher(articles, pretrained_encoder(), previous=_faq[1] if _faq is not None else None)
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
        shopping.catalog_index()
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
    """The bot's answer to ``message`` (inside the caller's transaction); may hand the conversation off.

    The conversation's dialogue state (:mod:`apps.chatbot.dialogue`) is read first: a message that fills the slot
    the bot asked for, or refines its last product answer, is answered as such whatever intent it resembles."""
    state = DialogueState.load(conversation.dialogue)
    prediction = understanding.prediction
    intent = Intent.objects.filter(name=prediction.intent).first() if prediction and prediction.intent else None
    answers = _route(conversation, message, understanding, intent, state)
    conversation.dialogue = state.dump()  # saved by the caller with the conversation's timestamp (one UPDATE)
    return answers


def _route(conversation: Conversation, message: Message, understanding: Understood, intent: Intent | None, state: DialogueState) -> list[Message]:
    action = intent.action if intent is not None else None
    text, entities = message.text, understanding.entities
    # 1. The slot the bot asked for: a message that names one of the things just listed ("the coffee", "the second
    # one", an order number) answers the question, whatever intent its words resemble; a human request still wins.
    if state.expecting == "order_number" and action != IntentAction.HANDOFF:
        number = _referenced_order(text, entities, state)
        if number is not None:
            state.expecting = ""
            if action == IntentAction.RETURN:
                return [_return_flow(conversation, message, entities, state, order_numbers=[number])]
            return [_order_status(conversation, message, entities, state, numbers=[number])]
    if state.expecting == "return_item" and action != IntentAction.HANDOFF:
        option = _referenced_return_option(text, entities, state)
        if option is not None:
            state.expecting = ""
            return [_return_lines(conversation, message, state, line_ids=[option["line"]])]
    state.expecting = ""
    if action == IntentAction.HANDOFF:
        from apps.chatbot.services import handoff_request

        handoff_request(conversation=conversation, reason=f"intent {intent.name}")
        return []
    # 2. A follow-up to the last product answer: "cheaper", "show more", "in red", "under 50".
    if state.search is not None and action not in (IntentAction.ORDER_STATUS, IntentAction.RETURN, IntentAction.FAQ):
        wanted = refinement(text)
        constraints = _follow_up_constraints(text, state) if action in (None, IntentAction.RECOMMEND) or wanted else None
        if wanted or (constraints is not None and not constraints.category and _has_filters(constraints) and action in (None, IntentAction.RECOMMEND)):
            return [_refine(conversation, message, state, wanted, constraints)]
    if action == IntentAction.ORDER_STATUS:
        return [_order_status(conversation, message, entities, state)]
    if action == IntentAction.RETURN:
        return [_return_flow(conversation, message, entities, state)]
    if action == IntentAction.RECOMMEND:
        return [_shopping(conversation, message, intent, entities, state)]
    if action == IntentAction.FAQ:
        return [_faq_answer(conversation, message, intent, understanding.embedding)]
    if action is None:
        # Not one of the intents, but an order number on its own, or a question naming what the shop sells.
        if entities.order_numbers:
            return [_order_status(conversation, message, entities, state)]
        # Not when the model placed it among the shop's own out-of-scope examples ("book a table for two" is no
        # question about books).
        explicitly_out = understanding.prediction is not None and understanding.prediction.best_guess == OOS_LABEL
        constraints = shopping.parse(text)
        if not explicitly_out and (constraints.category or constraints.attributes):
            return [_catalog_answer(conversation, message, state, constraints)]
        return [_not_sure(conversation, message, understanding.embedding)]
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


SIGN_IN_FOR_ORDERS = "I can only look up orders for signed-in customers. Please sign in to the shop and open the chat again, or ask for a human."


def _sign_in(conversation: Conversation, message: Message, source: str, text: str = SIGN_IN_FOR_ORDERS) -> Message:
    return _bot(conversation, message, text, source, payload={"quick_replies": [HUMAN_QUICK_REPLY]})


def _referenced_order(text: str, entities: Entities, state: DialogueState) -> str | None:
    """The order a follow-up names: a number, a position in the list shown ("the second one"), or a product in it."""
    if entities.order_numbers:
        return entities.order_numbers[0]
    index = pick_index(text, len(state.orders))
    if index is not None:
        return state.orders[index]
    if len(state.order_items) == len(state.orders):
        picked = pick_by_words(text, state.order_items)
        if len(picked) == 1:
            return state.orders[picked[0]]
    return None


def _order_status(conversation: Conversation, message: Message, entities: Entities, state: DialogueState, numbers: list[str] | None = None) -> Message:
    from apps.commerce import selectors as shop

    if not conversation.customer_external_id:
        return _sign_in(conversation, message, AnswerSource.ORDER)
    customer = conversation.customer_external_id
    numbers = numbers or entities.order_numbers[:3]
    if numbers:
        lines, found = [], []
        for number in numbers:
            order = shop.order_for_customer(number=number, external_id=customer)
            # Someone else's order and a missing one read the same: nothing leaks about other customers.
            if order is None:
                lines.append(f"I couldn't find order {number} on your account.")
            else:
                lines.append(_order_line(order, items=True))
                found.append(order.number)
        return _bot(conversation, message, "\n".join(lines), AnswerSource.ORDER, payload={"orders": found})
    orders = list(shop.customer_orders(external_id=customer, limit=3))
    if not orders:
        return _bot(conversation, message, "I can't find any orders on your account yet.", AnswerSource.ORDER)
    if len(orders) == 1:
        return _bot(conversation, message, _order_line(orders[0], items=True), AnswerSource.ORDER, payload={"orders": [orders[0].number]})
    # Several orders: list them and wait for the customer to pick one ("the second one", "DS-100002", "the jacket").
    state.expecting, state.orders = "order_number", [o.number for o in orders]
    state.order_items = [[t for line in o.lines.all()[:10] for t in (line.product.title, line.product.category)] for o in orders]
    text = "Here are your latest orders:\n" + "\n".join(_order_line(o) for o in orders) + "\nWhich one would you like to know more about?"
    return _bot(conversation, message, text, AnswerSource.ORDER, payload={"orders": state.orders, "expecting": state.expecting, "quick_replies": state.orders})


def _order_line(order: Any, items: bool = False) -> str:
    text = f"Order {order.number} ({order.placed_at:%d %b %Y}, {_money(order.total, order.currency)}): {order.get_status_display()}"
    if order.carrier or order.tracking_number:
        text += f", shipped with {order.carrier or 'the carrier'}" + (f" (tracking {order.tracking_number})" if order.tracking_number else "")
    if order.estimated_delivery and order.status in ("paid", "shipped", "pending"):
        text += f", expected {order.estimated_delivery:%d %b}"
    if items:
        text += " — " + ", ".join(f"{line.quantity} × {line.product.title}" for line in order.lines.all()[:10])
    return text + "."


# --- Shopping: catalog search, refinements, recommendations ----------------------------------------------------


def _has_filters(constraints: Constraints) -> bool:
    return bool(constraints.price_min is not None or constraints.price_max is not None or constraints.in_stock or constraints.attributes)


def _shopping(conversation: Conversation, message: Message, intent: Intent, entities: Entities, state: DialogueState) -> Message:
    """A product question: search the catalog when the message says what it wants, else recommend."""
    constraints = shopping.parse(message.text)
    if constraints.category or _has_filters(constraints) or shopping.names_products(constraints.text):
        return _catalog_answer(conversation, message, state, constraints)
    return _recommend(conversation, message, intent, entities, state)


def _catalog_answer(
    conversation: Conversation,
    message: Message,
    state: DialogueState,
    constraints: Constraints,
    *,
    exclude: frozenset[str] = frozenset(),
    sort: str = "relevance",
    lead: str = "",
    keep: Any = None,
) -> Message:
    """Products inside every constraint, best first (relevance, then this shopper's recommendations); when none match,
    say which constraint to relax. ``keep`` filters the hits further (e.g. "another colour")."""
    n = settings.CHATBOT_RECOMMENDATIONS
    boost = shopping.recommendation_boost(customer_external_id=conversation.customer_external_id, constraints=constraints)
    result = shopping.search(constraints, k=min(50, n * 6) if keep else n, exclude=exclude, boost=boost, sort=sort)
    hits = [p for p, _ in result.hits if keep is None or keep(p)][:n]
    described = constraints.describe()
    what = " ".join(described) if described else "products"
    previous = state.search or {}
    shown = (previous.get("shown", []) if exclude else []) + [p.key for p in hits]
    state.search = {
        "constraints": constraints.to_dict(),
        "described": described,
        "shown": shown,
        "last": {p.key: {"price": p.price, "colour": str(p.attributes.get("colour", "")).lower()} for p in hits} or previous.get("last", {}),
    }
    search = {"constraints": constraints.to_dict(), "total": result.total, "relax": result.relax}
    if hits:
        more = result.total - len(shown)
        text = (lead or f"Here's what I found for {what}:") + (f" ({result.total} in all)" if result.total > len(hits) else "")
        quick = ["Show more"] if more > 0 else []
        quick += ["Something cheaper"] if any(p.price is not None for p in hits) else []
        payload = {"products": [shopping.card(p) for p in hits], "search": search, "quick_replies": quick}
        return _bot(conversation, message, text, AnswerSource.CATALOG, payload=payload)
    text = f"I couldn't find any {what}" + (" that I haven't shown you already." if exclude else ".")
    hints = []
    for option in result.relax[:2]:
        name, matches = option.get("constraint", ""), option.get("matches", 0)
        cheapest = option.get("cheapest")
        hint = f"without the {name} condition there are {matches}"
        if name == "price" and cheapest is not None:
            hint += f" (from {cheapest:.2f})"
        hints.append(hint)
    if hints:
        text += " " + "; ".join(hints).capitalize() + "."
    return _bot(conversation, message, text, AnswerSource.CATALOG, payload={"search": search, "quick_replies": [HUMAN_QUICK_REPLY]})


def _follow_up_constraints(text: str, state: DialogueState) -> Constraints:
    """What a follow-up adds to the last search. Attribute values are read within the category asked about before
    ("in red?" after rain jackets: red rain jackets), unless the follow-up names a category of its own."""
    said = shopping.parse(text)
    category = (state.search or {}).get("constraints", {}).get("category")
    if said.category or not category:
        return said
    within = shopping.parse(f"{category}: {text}")
    return replace(within, category=None) if within.category == category else said


def _refine(conversation: Conversation, message: Message, state: DialogueState, wanted: Refinement, said: Constraints | None) -> Message:
    """Refine the last product answer: cheaper / pricier than what was shown, more of the same, another colour, or
    the constraints the follow-up adds ("in red", "under 50")."""
    search = state.search or {}
    constraints = Constraints.from_dict(search.get("constraints") or {})
    if said is not None:
        # Refinement words ("show me more", "cheaper") are instructions, not product words to search for.
        constraints = constraints.merged(replace(said, text="") if wanted else said)
    last = search.get("last") or {}
    prices = [v["price"] for v in last.values() if v.get("price") is not None]
    exclude = frozenset(search.get("shown", []))
    sort, keep, lead = "relevance", None, ""
    if wanted.cheaper and prices:
        constraints = replace(constraints, price_max=round(min(prices) - 0.01, 2), price_min=None)
        sort, lead = "price_desc", "Here are some cheaper ones:"
    elif wanted.pricier and prices:
        constraints = replace(constraints, price_min=round(max(prices) + 0.01, 2), price_max=None)
        lead = "Here are some higher-end ones:"
    if wanted.other_colour:
        colours = {v.get("colour") for v in last.values() if v.get("colour")}
        attributes = {k: v for k, v in constraints.attributes.items() if k not in ("colour", "color")}
        constraints = replace(constraints, attributes=attributes)

        def keep(p: Any) -> bool:
            colour = str(p.attributes.get("colour", p.attributes.get("color", ""))).lower()
            return bool(colour) and colour not in colours

        lead = "Here they are in other colours:"
    if not (wanted.more or wanted.other_colour or wanted.cheaper or wanted.pricier):
        exclude = frozenset()  # new constraints ("in red"): a fresh answer, not the next page
    elif wanted.more and not lead:
        lead = "Here are some more:"
    return _catalog_answer(conversation, message, state, constraints, exclude=exclude, sort=sort, lead=lead, keep=keep)


def _recommend(conversation: Conversation, message: Message, intent: Intent, entities: Entities, state: DialogueState) -> Message:
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
    _, products = shopping.catalog_index()
    cards = []
    for item in result.items:
        product = products.get(item.sku)
        if product is not None:
            cards.append(shopping.card(product, item.reason))
        else:  # created a moment ago, not in this process's index yet
            cards.append(
                {
                    "sku": item.sku,
                    "title": item.title,
                    "price": str(item.price) if item.price is not None else "",
                    "currency": "",
                    "in_stock": True,
                    "category": item.category,
                    "attributes": {},
                    "reason": item.reason,
                }
            )
    # "Something cheaper" or "show more" after recommendations search the catalog from here.
    state.search = {
        "constraints": Constraints(in_stock=True).to_dict(),
        "described": [],
        "shown": [c["sku"] for c in cards],
        "last": {c["sku"]: {"price": float(c["price"]) if c["price"] else None, "colour": str(c["attributes"].get("colour", "")).lower()} for c in cards},
    }
    payload = {
        "products": cards,
        "recommendation_id": str(result.id),
        "recommendations_model": str(result.model_version),
        "quick_replies": ["Show more", "Something cheaper"],
    }
    return _bot(conversation, message, intent.response or "You might like these:", AnswerSource.RECOMMENDATIONS, payload=payload)


# --- Returns: the customer's own order lines, the shop's policy, a request the operators decide ---------------


def _return_option(line: Any) -> dict[str, Any]:
    return {"line": line.pk, "order": line.order.number, "sku": line.product.sku, "title": line.product.title, "category": line.product.category}


def _referenced_return_option(text: str, entities: Entities, state: DialogueState) -> dict[str, Any] | None:
    options = state.return_options
    if entities.order_numbers:
        matching = [o for o in options if o["order"] in entities.order_numbers]
        if len(matching) == 1:
            return matching[0]
    index = pick_index(text, len(options))
    if index is not None:
        return options[index]
    picked = pick_by_words(text, [[o["title"], o["category"]] for o in options])
    return options[picked[0]] if len(picked) == 1 else None


def _return_flow(conversation: Conversation, message: Message, entities: Entities, state: DialogueState, order_numbers: list[str] | None = None) -> Message:
    """ "I want to return the shoes I bought": find the line among the customer's recent orders, apply the policy."""
    from apps.commerce import selectors as shop

    if not conversation.customer_external_id:
        return _sign_in(
            conversation, message, AnswerSource.RETURNS, "To start a return I need to know who you are: please sign in to the shop and open the chat again."
        )
    orders = shop.customer_orders(external_id=conversation.customer_external_id, limit=10)
    numbers = order_numbers or entities.order_numbers
    if numbers:
        orders = [o for o in orders if o.number in numbers] or [
            o for n in numbers if (o := shop.order_for_customer(number=n, external_id=conversation.customer_external_id))
        ]
        if not orders:
            return _bot(conversation, message, f"I couldn't find order {numbers[0]} on your account.", AnswerSource.RETURNS, payload={"orders": []})
    lines = [line for order in orders for line in order.lines.all()]
    if not lines:
        return _bot(conversation, message, "I can't find anything you've ordered that could be returned.", AnswerSource.RETURNS)
    picked = pick_by_words(message.text, [[line.product.title, line.product.category] for line in lines])
    if picked:
        lines = [lines[i] for i in picked]
    return _return_lines(conversation, message, state, lines=lines)


_RETURN_CODE_ORDER = {"already_requested": 0, "in_transit": 1, "window_closed": 2, "not_shipped": 3, "closed": 4}


def _return_lines(
    conversation: Conversation, message: Message, state: DialogueState, *, lines: list | None = None, line_ids: list[int] | None = None
) -> Message:
    from apps.commerce import selectors as shop
    from apps.commerce import services as commerce

    customer = conversation.customer_external_id
    if line_ids is not None:
        orders = shop.customer_orders(external_id=customer, limit=20)
        lines = [line for order in orders for line in order.lines.all() if line.pk in line_ids]
    lines = lines or []
    if not lines:
        return _bot(conversation, message, "I couldn't find that item on your recent orders.", AnswerSource.RETURNS)
    assessed = [(line, commerce.return_eligibility(line=line)) for line in lines]
    eligible = [(line, e) for line, e in assessed if e.eligible]
    if len(eligible) > 1:
        state.expecting = "return_item"
        state.return_options = [_return_option(line) for line, _ in eligible]
        listing = "\n".join(f"{i + 1}. {o['title']} (order {o['order']})" for i, o in enumerate(state.return_options))
        text = f"Which item would you like to return?\n{listing}"
        return _bot(
            conversation,
            message,
            text,
            AnswerSource.RETURNS,
            payload={"expecting": state.expecting, "quick_replies": [o["title"] for o in state.return_options][:5]},
        )
    # None eligible: answer about the one closest to a return (a request already open, then one on its way, …).
    line, eligibility = eligible[0] if eligible else min(assessed, key=lambda pair: _RETURN_CODE_ORDER.get(pair[1].code, 9))
    others = [f"{other.product.title} (order {other.order.number}): {e.message}" for other, e in assessed if other is not line][:2]
    summary = {"order": line.order.number, "sku": line.product.sku, "title": line.product.title, "eligible": eligibility.eligible, "reason": eligibility.code}
    if eligibility.eligible:
        try:
            request, eligibility = commerce.return_request_open(
                customer_external_id=customer, order_line_id=line.pk, reason=message.text, channel="chat", reference=f"conversation {conversation.pk}"
            )
        except ValidationError as exc:  # the policy changed under us (e.g. a request opened in another tab)
            return _bot(conversation, message, " ".join(exc.messages), AnswerSource.RETURNS, payload={"return_request": summary | {"eligible": False}})
        text = (
            f"I've opened return request #{request.pk} for {line.product.title} from order {line.order.number}. {eligibility.message} "
            "Our team checks it and emails you a prepaid return label."
        )
        summary |= {"id": request.pk, "status": request.status}
    else:
        text = eligibility.message
        if eligibility.open_request is not None:
            summary |= {"id": eligibility.open_request.pk, "status": eligibility.open_request.status}
    if others:
        text += "\n" + "\n".join(others)
    return _bot(conversation, message, text, AnswerSource.RETURNS, payload={"return_request": summary, "orders": [line.order.number]})
