"""Writes of chatbot data: sessions and identity, messages, handoff and the operator's actions, teaching, imports."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.chatbot import realtime
from apps.chatbot.models import (
    CannedReply,
    Conversation,
    ConversationState,
    Example,
    ExampleSource,
    FaqArticle,
    Feedback,
    Intent,
    Message,
    Sender,
    Site,
)
from apps.core.cache import count as cache_count
from apps.core.errors import DOES_NOT_EXIST

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
TOKEN_SALT = "chatbot.session"
MAX_CSV_ROWS = 100_000


class RateLimited(Exception):
    """The session sent more messages than the rate limit allows; answered with 429."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"You are sending messages too fast. Wait {retry_after} s and try again.")
        self.retry_after = retry_after


class SessionInvalid(Exception):
    """The session token is missing, forged, expired or names a conversation that is gone or closed."""


class OriginRefused(Exception):
    """The page's origin is not on the site's allow-list; answered with 403."""


# --- Identity ---------------------------------------------------------------------------------------------


def customer_signature(*, site: Site, customer_external_id: str, expires: int | None = None) -> str:
    """What the shop's server computes and puts in the page: ``"<expires>.<hex>"``, where ``expires`` is a Unix time
    (seconds) and ``hex`` is HMAC-SHA256 of ``"<customer id>:<expires>"`` keyed with the site secret.

    ``expires`` defaults to now plus ``CHATBOT_IDENTITY_MAX_AGE``: a copied page identifies nobody after that."""
    if expires is None:
        expires = int(time.time()) + settings.CHATBOT_IDENTITY_MAX_AGE
    digest = hmac.new(site.secret.encode(), f"{customer_external_id}:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{digest}"


def _identity_check(*, site: Site, customer_id: str, signature: str) -> None:
    """Raises ValidationError unless ``signature`` is the site's valid, unexpired signature of ``customer_id``."""
    expires_text, dot, _digest = (signature or "").strip().lower().partition(".")
    if not dot or not expires_text.isdigit():
        raise ValidationError(
            {"customer_signature": ['Sign "<customer id>:<expires>" and send "<expires>.<hex HMAC-SHA256>" (expires: a Unix time in seconds).']}
        )
    expires = int(expires_text)
    expected = customer_signature(site=site, customer_external_id=customer_id, expires=expires)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise ValidationError({"customer_signature": ["Does not match the customer id: sign it with the site's secret (HMAC-SHA256, hex)."]})
    now = time.time()
    if expires <= now:
        raise ValidationError({"customer_signature": ["The signature has expired: the shop's server signs the customer again when it renders the page."]})
    if expires > now + settings.CHATBOT_IDENTITY_MAX_AGE + 60:  # a minute for clocks that disagree
        raise ValidationError({"customer_signature": [f"The signature expires too late: at most {settings.CHATBOT_IDENTITY_MAX_AGE} s from now."]})


def session_token(*, conversation: Conversation) -> str:
    return signing.dumps({"c": conversation.pk, "s": conversation.site_id}, salt=TOKEN_SALT, compress=True)


def conversation_from_token(token: str, *, after_close: bool = False) -> Conversation:
    """The conversation a widget token names. A token ends with its conversation: once closed it opens nothing,
    except, with ``after_close``, reading the last messages and rating for ``CHATBOT_CLOSED_TOKEN_GRACE`` seconds."""
    try:
        data = signing.loads(token or "", salt=TOKEN_SALT, max_age=settings.CHATBOT_SESSION_MAX_AGE)
    except signing.BadSignature:
        raise SessionInvalid("The chat session is invalid or expired; start a new one.") from None
    conversation = Conversation.objects.select_related("site").filter(pk=data.get("c"), site_id=data.get("s")).first()
    if conversation is None or not conversation.site.is_active:
        raise SessionInvalid("The chat session is invalid or expired; start a new one.")
    if conversation.state == ConversationState.CLOSED:
        closed_at = conversation.closed_at or conversation.updated_at
        in_grace = (timezone.now() - closed_at).total_seconds() <= settings.CHATBOT_CLOSED_TOKEN_GRACE
        if not (after_close and in_grace):
            raise SessionInvalid("This chat has ended; start a new one.")
    return conversation


def origin_allowed(*, site: Site, origin: str | None, own_host: str = "") -> bool:
    """May a page on ``origin`` use ``site``'s widget? Its allow-list, plus pages of the host serving the widget
    (``own_host``, e.g. the demo shop page).

    No Origin header (a server, a script) is allowed: only browsers send one, and a page cannot leave it out."""
    if not origin:
        return True
    origin = origin.strip().lower().rstrip("/")
    if origin in site.allowed_origin_list():
        return True
    parsed = urlsplit(origin)
    return bool(own_host and parsed.scheme in ("http", "https") and parsed.netloc == own_host.lower())


def origin_check(*, site: Site, origin: str | None, own_host: str = "") -> None:
    if not origin_allowed(site=site, origin=origin, own_host=own_host):
        raise OriginRefused(
            f"The chat for {site.name} is not enabled on {origin}: an admin adds the page's origin to the site's allowed origins (Chatbot › Sites)."
        )


def session_start(
    *, site_key: str, customer_id: str = "", signature: str = "", client: str = "", origin: str | None = None, own_host: str = ""
) -> Conversation:
    """A new conversation for the widget on ``site_key``: anonymous, or identified when the signature matches.

    ``client`` is the caller's rate-limit key (``apps.core.clients``): sessions are limited per client and per site.
    """
    _rate_limit(f"session:{client}", settings.CHATBOT_SESSIONS_PER_MINUTE)
    site = Site.objects.filter(site_key=site_key or "", is_active=True).first()
    if site is None:
        raise ValidationError({"site_key": [ValidationError("Unknown or inactive site key.", code=DOES_NOT_EXIST)]})
    origin_check(site=site, origin=origin, own_host=own_host)
    _rate_limit(f"site-sessions:{site.pk}", settings.CHATBOT_SITE_SESSIONS_PER_MINUTE)
    customer_id = (customer_id or "").strip()
    if customer_id:
        if len(customer_id) > 64:
            raise ValidationError({"customer_id": ["At most 64 characters."]})
        _identity_check(site=site, customer_id=customer_id, signature=signature)
    with transaction.atomic():
        conversation = Conversation.objects.create(site=site, customer_external_id=customer_id)
        Message.objects.create(
            conversation=conversation, sender=Sender.BOT, text=site.greeting, payload={"quick_replies": settings.CHATBOT_GREETING_QUICK_REPLIES}
        )
    return conversation


# --- Customer messages ------------------------------------------------------------------------------------


def _rate_limit(key: str, per_minute: int) -> None:
    window = int(time.time() // 60)
    count = cache_count(f"chatbot:rate:{key}:{window}", timeout=70)
    if count > per_minute:
        raise RateLimited(retry_after=max(1, 60 - int(time.time()) % 60))


def widget_request_allow(*, client: str) -> None:
    """Count one widget request (HTTP call, socket connection or socket message) of ``client``; 429 past the limit."""
    _rate_limit(f"client:{client}", settings.CHATBOT_WIDGET_REQUESTS_PER_MINUTE)


def clean_text(text: Any, field: str = "text") -> str:
    if not isinstance(text, str):
        raise ValidationError({field: ["Send the message as a string."]})
    text = text.strip()
    if not text:
        raise ValidationError({field: ["The message is empty; type something first."]})
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValidationError({field: [f"The message is {len(text)} characters long; the limit is {MAX_MESSAGE_CHARS}."]})
    return text


class Busy(Exception):
    """The web process already answers ``CHATBOT_REPLIES_IN_FLIGHT`` messages; answered with 503 and Retry-After."""

    def __init__(self, retry_after: int = 2) -> None:
        super().__init__(f"The chat is very busy right now. Send your message again in {retry_after} s.")
        self.retry_after = retry_after


_in_flight = 0
_in_flight_lock = threading.Lock()


@contextmanager
def reply_slot() -> Iterator[None]:
    """Hold one of the process's ``CHATBOT_REPLIES_IN_FLIGHT`` reply slots, or raise :class:`Busy` at once."""
    global _in_flight
    with _in_flight_lock:
        if _in_flight >= settings.CHATBOT_REPLIES_IN_FLIGHT:
            raise Busy()
        _in_flight += 1
    try:
        yield
    finally:
        with _in_flight_lock:
            _in_flight -= 1


def _release_connection() -> None:
    """Give the database connection back to the pool (PostgreSQL's OPTIONS["pool"]) outside a transaction; without a
    pool it is kept, since closing would mean connecting again for the next query."""
    if not connection.in_atomic_block and connection.settings_dict.get("OPTIONS", {}).get("pool"):
        connection.close()


def customer_message_post(*, conversation: Conversation, text: Any) -> list[Message]:
    """Store the customer's message and, while the bot has the conversation, its reply. Returns both.

    The database connection goes back to the pool while the model reads the message and while the events go out
    (outside a transaction): concurrent replies then share model passes (apps.chatbot.batching) instead of each
    holding one of the pool's few connections."""
    text = clean_text(text)
    if conversation.state == ConversationState.CLOSED:
        raise ValidationError({"text": ["This conversation is closed; start a new one."]})
    _rate_limit(f"conversation:{conversation.pk}", settings.CHATBOT_MESSAGES_PER_MINUTE)
    from apps.chatbot import engine

    with reply_slot():
        _release_connection()  # taken again for the transaction below
        understanding = engine.understand(conversation=conversation, text=text)
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
            message = Message.objects.create(conversation=conversation, sender=Sender.CUSTOMER, text=text, **understanding.message_fields())
            created = [message]
            # The bot only speaks while it has the conversation: never once a human was asked for or claimed it.
            if conversation.state == ConversationState.BOT:
                created += engine.reply(conversation=conversation, message=message, understanding=understanding)
            conversation.save(update_fields=["updated_at", "dialogue"])
            events = [{"type": "message", "message": message_public(m)} for m in created]
        _release_connection()  # before the channel-layer round trip below
        # One channel-layer send for the message and its answer (each listener receives them as separate events); at
        # once here, or when an enclosing transaction commits.
        realtime.publish_many(conversation.pk, events, inbox=conversation.state != ConversationState.BOT)
    return created


def message_public(message: Message) -> dict[str, Any]:
    """A message as the widget and the operator page receive it (text is rendered as text there)."""
    return {
        "id": message.pk,
        "sender": message.sender,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        "answer_source": message.answer_source,
        "faq": message.payload.get("faq"),
        "faq_results": message.payload.get("faq_results", []),
        "intent": message.intent,
        "out_of_scope": message.out_of_scope,
        "products": message.payload.get("products", []),
        "orders": message.payload.get("orders", []),
        "search": message.payload.get("search"),
        "return_request": message.payload.get("return_request"),
        "expecting": message.payload.get("expecting", ""),
        "recommendation_id": message.payload.get("recommendation_id", ""),
        "quick_replies": message.payload.get("quick_replies", []),
        "feedback": message.feedback,
        # Customers see the operator's display name (User.public_name), never the login name.
        "operator": message.operator.public_name if message.operator_id and message.operator else "",
    }


def feedback_set(*, conversation: Conversation, message_id: int, value: str) -> Message:
    if value not in Feedback.values:
        raise ValidationError({"value": [f"Must be one of: {', '.join(Feedback.values)}."]})
    message = conversation.messages.filter(pk=message_id, sender=Sender.BOT).first()
    if message is None:
        raise ValidationError({"message": ["No bot message with this id in your conversation."]})
    message.feedback = value
    message.save(update_fields=["feedback"])
    return message


def handoff_request(*, conversation: Conversation, reason: str = "customer asked") -> Conversation:
    """Put the conversation in the operators' queue (idempotent while it waits or is with a human)."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.state == ConversationState.CLOSED:
            raise ValidationError({"state": ["This conversation is closed; start a new one."]})
        if conversation.state != ConversationState.BOT:
            return conversation
        conversation.state = ConversationState.WAITING
        conversation.waiting_since = timezone.now()
        conversation.handoff_reason = reason[:200]
        conversation.save(update_fields=["state", "waiting_since", "handoff_reason", "updated_at"])
        note = Message.objects.create(
            conversation=conversation, sender=Sender.SYSTEM, text="I'm passing you to a member of our team. Someone will be with you shortly."
        )
        realtime.publish(conversation.pk, {"type": "message", "message": message_public(note)})
        realtime.publish(conversation.pk, {"type": "state", "state": conversation.state}, inbox=True)
    return conversation


def conversation_rate(*, conversation: Conversation, rating: Any) -> Conversation:
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise ValidationError({"rating": ["Give a whole number from 1 to 5."]})
    conversation.rating = rating
    conversation.save(update_fields=["rating", "updated_at"])
    return conversation


def click_record(*, conversation: Conversation, sku: Any, recommendation_id: Any) -> None:
    """A product card in the chat was clicked: recorded as a recommendation click in the shop's events.

    Only a card the bot served in this conversation counts, and it counts once: the event id is derived from the
    served list and the sku, so a repeated click (or a script replaying it) is stored once and cannot tip an A/B
    test; a sku or list that was not served here is refused.
    """
    from apps.commerce.services import event_record

    if not isinstance(sku, str) or not sku.strip():
        raise ValidationError({"sku": ["Give the product's SKU."]})
    if not isinstance(recommendation_id, str) or not recommendation_id.strip():
        raise ValidationError({"recommendation_id": ["Give the recommendation_id of the message that showed the card."]})
    sku, recommendation_id = sku.strip(), recommendation_id.strip()
    served = conversation.messages.filter(sender=Sender.BOT, payload__recommendation_id=recommendation_id)
    if not any(card.get("sku") == sku for message in served for card in message.payload.get("products", []) if isinstance(card, dict)):
        raise ValidationError({"sku": ["This product was not recommended in this conversation under this recommendation_id."]})
    digest = hashlib.sha256(f"{recommendation_id}\n{sku}".encode()).hexdigest()[:40]
    event_record(
        type="click",
        sku=sku,
        customer_external_id=conversation.customer_external_id or None,
        session_id=f"chat-{conversation.pk}",
        recommendation_id=recommendation_id,
        event_id=f"chat-click-{digest}",
    )


# --- Operators --------------------------------------------------------------------------------------------


def _locked(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation.pk)


def conversation_claim(*, conversation: Conversation, user) -> Conversation:  # noqa: ANN001
    with transaction.atomic():
        conversation = _locked(conversation)
        if conversation.state == ConversationState.CLOSED:
            raise ValidationError({"state": ["This conversation is closed."]})
        if conversation.state == ConversationState.HUMAN and conversation.assigned_to_id not in (None, user.pk):
            raise ValidationError({"state": [f"Already claimed by {conversation.assigned_to}."]})
        conversation.state = ConversationState.HUMAN
        conversation.assigned_to = user
        conversation.save(update_fields=["state", "assigned_to", "updated_at"])
        note = Message.objects.create(conversation=conversation, sender=Sender.SYSTEM, text=f"{user.public_name} joined the chat.")
        realtime.publish(conversation.pk, {"type": "message", "message": message_public(note)})
        realtime.publish(conversation.pk, {"type": "state", "state": conversation.state}, inbox=True)
    return conversation


def operator_reply(*, conversation: Conversation, user, text: Any) -> Message:  # noqa: ANN001
    text = clean_text(text)
    with transaction.atomic():
        conversation = _locked(conversation)
        if conversation.state == ConversationState.CLOSED:
            raise ValidationError({"state": ["This conversation is closed."]})
        if conversation.state != ConversationState.HUMAN or conversation.assigned_to_id != user.pk:
            raise ValidationError({"state": ["Claim the conversation before replying."]})
        message = Message.objects.create(conversation=conversation, sender=Sender.OPERATOR, text=text, operator=user)
        conversation.save(update_fields=["updated_at"])
        realtime.publish(conversation.pk, {"type": "message", "message": message_public(message)})
    return message


def conversation_transfer(*, conversation: Conversation, user, to_user) -> Conversation:  # noqa: ANN001
    with transaction.atomic():
        conversation = _locked(conversation)
        if conversation.state != ConversationState.HUMAN or conversation.assigned_to_id != user.pk:
            raise ValidationError({"state": ["Only the operator who has the conversation can transfer it."]})
        if to_user is None:
            # Back to the queue for anyone to claim.
            conversation.state = ConversationState.WAITING
            conversation.assigned_to = None
            conversation.waiting_since = timezone.now()
            text = "You're being transferred to another member of our team."
        else:
            if not getattr(to_user, "is_operator", False) or not to_user.is_active:
                raise ValidationError({"to_user": ["Transfer to an active operator."]})
            conversation.assigned_to = to_user
            text = f"{to_user.public_name} is taking over this chat."
        conversation.save(update_fields=["state", "assigned_to", "waiting_since", "updated_at"])
        note = Message.objects.create(conversation=conversation, sender=Sender.SYSTEM, text=text)
        realtime.publish(conversation.pk, {"type": "message", "message": message_public(note)})
        realtime.publish(conversation.pk, {"type": "state", "state": conversation.state}, inbox=True)
    return conversation


def conversation_close(*, conversation: Conversation, user=None) -> Conversation:  # noqa: ANN001
    with transaction.atomic():
        conversation = _locked(conversation)
        if conversation.state == ConversationState.CLOSED:
            return conversation
        conversation.state = ConversationState.CLOSED
        conversation.closed_at = timezone.now()
        conversation.save(update_fields=["state", "closed_at", "updated_at"])
        note = Message.objects.create(
            conversation=conversation,
            sender=Sender.SYSTEM,
            text="This chat was closed. How satisfied were you? Rate us from 1 to 5.",
            payload={"ask_rating": True},
        )
        realtime.publish(conversation.pk, {"type": "message", "message": message_public(note) | {"ask_rating": True}})
        realtime.publish(conversation.pk, {"type": "state", "state": conversation.state}, inbox=True)
    return conversation


def canned_reply_create(*, title: str, text: str) -> CannedReply:
    reply = CannedReply(title=title, text=text)
    reply.full_clean()
    reply.save()
    return reply


# --- Teaching ---------------------------------------------------------------------------------------------


def example_file(*, message_id: int, intent_name: str) -> Example:
    """File a customer message as an example of ``intent_name`` (the next training run learns it)."""
    message = Message.objects.filter(pk=message_id, sender=Sender.CUSTOMER).first()
    if message is None:
        raise ValidationError({"message": ["No customer message with this id."]})
    intent = Intent.objects.filter(name=intent_name).first()
    if intent is None:
        raise ValidationError({"intent": [f"Unknown intent {intent_name!r}."]})
    with transaction.atomic():
        example, _ = Example.objects.get_or_create(intent=intent, text=message.text[:2000], defaults={"source": ExampleSource.OPERATOR})
        message.reviewed_at = timezone.now()
        message.save(update_fields=["reviewed_at"])
    return example


def message_dismiss(*, message_id: int) -> None:
    Message.objects.filter(pk=message_id).update(reviewed_at=timezone.now())


def retrain_start(*, user, trigger: str = "dashboard"):  # noqa: ANN001, ANN201
    from apps.chatbot.families import INTENT_FAMILY
    from apps.mlops.services import training_run_start

    return training_run_start(family=INTENT_FAMILY, trigger=trigger, user=user)


# --- Imports ----------------------------------------------------------------------------------------------


def _csv_rows(data: bytes | str, required: tuple[str, ...]) -> list[dict[str, str]]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError({"file": ["The file is not UTF-8 text."]}) from None
    reader = csv.DictReader(io.StringIO(data))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValidationError({"file": [f"Missing column(s): {', '.join(missing)}; the header must contain {', '.join(required)}."]})
    rows = []
    try:
        for row in reader:
            rows.append({(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(v, str)})
            if len(rows) > MAX_CSV_ROWS:
                raise ValidationError({"file": [f"More than {MAX_CSV_ROWS} rows; split the file."]})
    except csv.Error as exc:
        raise ValidationError({"file": [f"Not a readable CSV file: {exc}."]}) from None
    return rows


def examples_import_csv(
    *, data: bytes | str, text_column: str = "text", intent_column: str = "intent", source: str = ExampleSource.IMPORT, action: str = "reply"
) -> dict[str, int]:
    """Import ``text,intent`` rows (Banking77-style files name the intent column ``category``).

    Unknown intents are created with ``action``; rows already present are skipped; invalid rows are counted
    and reported, never half-imported.
    """
    rows = _csv_rows(data, (text_column, intent_column))
    created = skipped = invalid = 0
    intents = {i.name: i for i in Intent.objects.all()}
    new_intents = 0
    with transaction.atomic():
        for row in rows:
            text, name = row.get(text_column, ""), row.get(intent_column, "").strip().lower().replace(" ", "_")
            if not text or not name or len(text) > MAX_MESSAGE_CHARS or len(name) > 80:
                invalid += 1
                continue
            intent = intents.get(name)
            if intent is None:
                intent = Intent(name=name, action=action)
                try:
                    intent.full_clean()
                except ValidationError:
                    invalid += 1
                    continue
                intent.save()
                intents[name] = intent
                new_intents += 1
            try:
                with transaction.atomic():
                    Example.objects.create(intent=intent, text=text, source=source)
                created += 1
            except IntegrityError:
                skipped += 1
    return {"created": created, "skipped": skipped, "invalid": invalid, "new_intents": new_intents}


def faq_import_csv(*, data: bytes | str) -> dict[str, int]:
    """Import ``question,answer[,category]`` rows; an existing question gets the new answer."""
    rows = _csv_rows(data, ("question", "answer"))
    created = updated = invalid = 0
    with transaction.atomic():
        for row in rows:
            question, answer = row.get("question", ""), row.get("answer", "")
            category = (row.get("category") or row.get("class") or "")[:80]
            if not question or not answer or len(question) > 500:
                invalid += 1
                continue
            _, was_created = FaqArticle.objects.update_or_create(question=question, defaults={"answer": answer, "category": category, "is_active": True})
            created += was_created
            updated += not was_created
    return {"created": created, "updated": updated, "invalid": invalid}
