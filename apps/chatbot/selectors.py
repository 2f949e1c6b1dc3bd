"""Reads of chatbot data."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet

from apps.chatbot.models import CannedReply, Conversation, ConversationState, Example, Feedback, Intent, Message, Sender


def training_examples() -> tuple[list[str], list[str]]:
    rows = Example.objects.select_related("intent").order_by("id").values_list("text", "intent__name")
    texts, labels = [], []
    for text, label in rows:
        texts.append(text)
        labels.append(label)
    return texts, labels


def intents_all() -> QuerySet[Intent]:
    return Intent.objects.order_by("name")


def conversations_waiting() -> QuerySet[Conversation]:
    return Conversation.objects.filter(state=ConversationState.WAITING).order_by("waiting_since", "id").select_related("site")


def conversations_of_operator(*, user) -> QuerySet[Conversation]:  # noqa: ANN001
    return Conversation.objects.filter(state=ConversationState.HUMAN, assigned_to=user).order_by("-updated_at").select_related("site")


def conversations_recent(*, limit: int = 20) -> QuerySet[Conversation]:
    return Conversation.objects.exclude(state=ConversationState.WAITING).select_related("site", "assigned_to").order_by("-updated_at")[:limit]


def messages_after(*, conversation: Conversation, after_id: int = 0) -> QuerySet[Message]:
    return conversation.messages.filter(id__gt=after_id).select_related("faq_article").order_by("id")


def intent_history(*, conversation: Conversation) -> list[Message]:
    return list(conversation.messages.filter(sender=Sender.CUSTOMER).exclude(intent="").order_by("id"))


def teaching_queue(*, limit: int = 50) -> QuerySet[Message]:
    """Customer messages the bot was unsure about, and customer messages whose bot answer got a thumbs down."""
    low = Q(sender=Sender.CUSTOMER) & (Q(out_of_scope=True) | Q(confidence__lt=settings.CHATBOT_TEACH_BELOW_CONFIDENCE))
    disliked = Q(sender=Sender.CUSTOMER) & Q(replies__feedback=Feedback.DOWN)
    return (
        Message.objects.filter(low | disliked, reviewed_at__isnull=True)
        .exclude(confidence__isnull=True)
        .select_related("conversation")
        .distinct()
        .order_by("-id")[:limit]
    )


def canned_replies() -> QuerySet[CannedReply]:
    return CannedReply.objects.order_by("title")
