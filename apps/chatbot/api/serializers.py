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
    intent = serializers.CharField(help_text="The intent of the message answered (empty when none was recognised).")
    out_of_scope = serializers.BooleanField(help_text="The message answered was outside the bot's intents.")
    products = serializers.JSONField(help_text="Product cards: sku, title, price (decimal string), currency, in_stock, category, attributes, reason.")
    orders = serializers.JSONField(help_text="Order numbers the answer shows.")
    search = serializers.JSONField(allow_null=True, help_text="Catalog answers: the constraints applied, total matches, and what to relax when none match.")
    return_request = serializers.JSONField(
        allow_null=True, help_text="Return answers: id and status of the request opened (if any), order, sku, title, eligible, reason."
    )
    expecting = serializers.CharField(help_text='What the bot asked for and waits for ("order_number", "return_item"), or empty.')
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
