from __future__ import annotations

from rest_framework import serializers

from apps.chatbot.services import MAX_MESSAGE_CHARS


class SessionStartInput(serializers.Serializer):
    site_key = serializers.CharField(max_length=64)
    customer_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    customer_signature = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    # A token from an earlier visit: the conversation continues when it is still valid.
    token = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    sender = serializers.CharField()
    text = serializers.CharField()
    created_at = serializers.CharField()
    answer_source = serializers.CharField()
    faq = serializers.JSONField(allow_null=True)
    faq_results = serializers.JSONField()
    products = serializers.JSONField()
    recommendation_id = serializers.CharField()
    quick_replies = serializers.JSONField()
    feedback = serializers.CharField()
    operator = serializers.CharField()


class SessionOutput(serializers.Serializer):
    token = serializers.CharField()
    conversation_id = serializers.IntegerField()
    state = serializers.CharField()
    identified = serializers.BooleanField()
    messages = MessageOutput(many=True)
    websocket_path = serializers.CharField()


class MessageInput(serializers.Serializer):
    # Length is checked by the service (one clear message for empty and over-long text on every channel).
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_MESSAGE_CHARS * 4)


class MessagesOutput(serializers.Serializer):
    state = serializers.CharField()
    messages = MessageOutput(many=True)


class FeedbackInput(serializers.Serializer):
    value = serializers.ChoiceField(choices=["up", "down"])


class RatingInput(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)


class ClickInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    # The id of the bot message's recommendation list: only a card served in this conversation is counted, once.
    recommendation_id = serializers.CharField(max_length=64)


class CsvImportInput(serializers.Serializer):
    file = serializers.FileField()


class ImportOutput(serializers.Serializer):
    created = serializers.IntegerField()
    skipped = serializers.IntegerField(required=False)
    updated = serializers.IntegerField(required=False)
    invalid = serializers.IntegerField()
    new_intents = serializers.IntegerField(required=False)


class StateOutput(serializers.Serializer):
    state = serializers.CharField()
