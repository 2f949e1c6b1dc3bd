"""Chatbot data: sites that embed the widget, intents with their examples, FAQ articles, conversations."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_origins(value: str) -> None:
    """One origin per line: scheme, host and optional port, nothing else (``https://shop.example.com``)."""
    bad = [line for line in value.split() if not _is_origin(line)]
    if bad:
        raise ValidationError(f"Not an origin: {', '.join(bad[:3])}. Write one per line as https://shop.example.com (no path).")


def _is_origin(text: str) -> bool:
    parsed = urlsplit(text.rstrip("/"))
    return parsed.scheme in ("http", "https") and bool(parsed.hostname) and not (parsed.path or parsed.query or parsed.fragment or parsed.username)


def _site_key() -> str:
    return "pk_" + secrets.token_urlsafe(16)


def _site_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


class Site(models.Model):
    """A shop site that embeds the widget. The site key is public (in the script tag); the secret stays with
    the shop's server, which signs its customers' ids with it (HMAC-SHA256) to identify them to the chat."""

    name = models.CharField(max_length=120)
    site_key = models.CharField(max_length=64, unique=True, default=_site_key)
    secret = models.CharField(max_length=100, default=_site_secret)
    greeting = models.CharField(max_length=300, default="Hi! I'm the shop assistant. Ask me about orders, returns, shipping or products.")
    is_active = models.BooleanField(default=True)
    # Pages that may run this site's widget (the WebSocket and the HTTP API check the browser's Origin).
    allowed_origins = models.TextField(
        blank=True,
        validators=[validate_origins],
        help_text="One per line, e.g. https://shop.example.com. The widget refuses pages on other origins (Downstream's own pages are always allowed).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def allowed_origin_list(self) -> list[str]:
        return [line.strip().lower().rstrip("/") for line in self.allowed_origins.split() if line.strip()]


class IntentAction(models.TextChoices):
    REPLY = "reply", "Reply with the intent's response"
    FAQ = "faq", "Answer from the FAQ"
    ORDER_STATUS = "order_status", "Order status"
    RECOMMEND = "recommend", "Product questions: catalog search and recommendations"
    RETURN = "return", "Start a return (order-aware)"
    HANDOFF = "handoff", "Hand off to a human"


class Intent(models.Model):
    name = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=20, choices=IntentAction.choices, default=IntentAction.REPLY)
    # The reply for REPLY intents; for the others an optional lead-in before the action's answer.
    response = models.TextField(blank=True)
    quick_replies = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ExampleSource(models.TextChoices):
    SEED = "seed", "Demo seed"
    IMPORT = "import", "CSV import"
    OPERATOR = "operator", "Filed by an operator"
    ADMIN = "admin", "Admin"


class Example(models.Model):
    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="examples")
    text = models.CharField(max_length=2000)
    source = models.CharField(max_length=10, choices=ExampleSource.choices, default=ExampleSource.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["intent_id", "id"]
        constraints = [models.UniqueConstraint(fields=["intent", "text"], name="chatbot_example_unique_text")]

    def __str__(self) -> str:
        return f"{self.intent_id}: {self.text[:60]}"


class FaqArticle(models.Model):
    question = models.CharField(max_length=500)
    answer = models.TextField()
    category = models.CharField(max_length=80, blank=True)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "question"]
        constraints = [models.UniqueConstraint(fields=["question"], name="chatbot_faq_unique_question")]

    def __str__(self) -> str:
        return self.question


class ConversationState(models.TextChoices):
    BOT = "bot", "With the bot"
    WAITING = "waiting_for_human", "Waiting for a human"
    HUMAN = "human", "With an operator"
    CLOSED = "closed", "Closed"


class Conversation(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="conversations")
    # Identified customers only (verified by HMAC); anonymous visitors have none and never see orders.
    customer_external_id = models.CharField(max_length=64, blank=True, db_index=True)
    state = models.CharField(max_length=20, choices=ConversationState.choices, default=ConversationState.BOT, db_index=True)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="chat_conversations")
    handoff_reason = models.CharField(max_length=200, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)  # customer satisfaction 1–5, asked at close
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # What the bot remembers between messages (apps.chatbot.dialogue): the slot it asked for, the orders and products
    # it showed, the last search's constraints. Shown to the operator who takes over.
    dialogue = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["state", "waiting_since"])]

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.state})"


class Sender(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    BOT = "bot", "Bot"
    OPERATOR = "operator", "Operator"
    SYSTEM = "system", "System"


class AnswerSource(models.TextChoices):
    INTENT = "intent", "Intent response"
    FAQ = "faq", "FAQ article"
    FAQ_SEARCH = "faq_search", "FAQ search (out of scope)"
    ORDER = "order", "Order lookup"
    RECOMMENDATIONS = "recommendations", "Recommendations"
    CATALOG = "catalog", "Catalog search"
    RETURNS = "returns", "Return request"
    HANDOFF = "handoff", "Handoff"
    FALLBACK = "fallback", "Fallback (no model or nothing found)"


class Feedback(models.TextChoices):
    UP = "up", "Thumbs up"
    DOWN = "down", "Thumbs down"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.CharField(max_length=10, choices=Sender.choices)
    text = models.TextField()
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # On customer messages: what the model understood. On bot replies: copied from the message answered.
    intent = models.CharField(max_length=80, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    out_of_scope = models.BooleanField(default=False)
    model_version = models.CharField(max_length=40, blank=True)
    # On bot replies: what produced the answer, and its payload (FAQ source, product cards, quick replies).
    answer_source = models.CharField(max_length=20, choices=AnswerSource.choices, blank=True)
    faq_article = models.ForeignKey(FaqArticle, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    payload = models.JSONField(default=dict, blank=True)
    entities = models.JSONField(default=dict, blank=True)
    reply_to = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies")
    feedback = models.CharField(max_length=4, choices=Feedback.choices, blank=True)
    # Teaching: set once an operator filed the message as an example (or dismissed it).
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.sender}: {self.text[:60]}"


class CannedReply(models.Model):
    title = models.CharField(max_length=80, unique=True)
    text = models.TextField()

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.title
