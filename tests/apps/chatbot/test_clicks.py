"""Clicks on the chat's product cards count once per served item, and only for items served in that conversation."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.chatbot.models import AnswerSource, Conversation, Message, Sender
from apps.commerce.models import Event
from tests.apps.chatbot.helpers import demo_site
from tests.apps.commerce.factories import ProductFactory

pytestmark = pytest.mark.django_db

CLICKS = "/api/v1/chatbot/widget/clicks/"


def _session(widget: Client) -> tuple[str, Conversation]:
    site = demo_site()
    body = widget.post("/api/v1/chatbot/widget/sessions/", {"site_key": site.site_key}, content_type="application/json").json()
    return body["token"], Conversation.objects.get(pk=body["conversation_id"])


def _serve(conversation: Conversation, recommendation_id: str, skus: list[str]) -> None:
    # What the bot stores when it answers with product cards (apps.chatbot.engine._recommend).
    cards = [{"sku": sku, "title": sku, "price": "", "category": "", "reason": ""} for sku in skus]
    Message.objects.create(
        conversation=conversation,
        sender=Sender.BOT,
        text="You might like these:",
        answer_source=AnswerSource.RECOMMENDATIONS,
        payload={"products": cards, "recommendation_id": recommendation_id},
    )


def _click(widget: Client, token: str, sku: str, recommendation_id: str):  # noqa: ANN202
    return widget.post(CLICKS, {"sku": sku, "recommendation_id": recommendation_id}, content_type="application/json", HTTP_X_CHAT_TOKEN=token)


def test_the_same_click_twice_counts_once():
    ProductFactory(sku="A")
    ProductFactory(sku="B")
    widget = Client()
    token, conversation = _session(widget)
    _serve(conversation, "rec-1", ["A", "B"])
    assert _click(widget, token, "A", "rec-1").status_code == 204
    assert _click(widget, token, "A", "rec-1").status_code == 204
    assert _click(widget, token, "B", "rec-1").status_code == 204
    clicks = Event.objects.filter(type="click", recommendation_id="rec-1")
    assert sorted(clicks.values_list("product__sku", flat=True)) == ["A", "B"]


def test_a_click_on_an_item_not_served_in_this_conversation_is_refused():
    ProductFactory(sku="A")
    ProductFactory(sku="Z")
    widget, stranger = Client(), Client()
    token, conversation = _session(widget)
    other_token, _ = _session(stranger)
    _serve(conversation, "rec-1", ["A"])

    unserved_sku = _click(widget, token, "Z", "rec-1")
    assert unserved_sku.status_code == 400 and unserved_sku.json()["errors"]["sku"]
    assert _click(widget, token, "A", "rec-other").status_code == 400  # a list this conversation was not shown
    assert _click(stranger, other_token, "A", "rec-1").status_code == 400  # another conversation's list
    missing_id = widget.post(CLICKS, {"sku": "A"}, content_type="application/json", HTTP_X_CHAT_TOKEN=token)
    assert missing_id.status_code == 400 and "recommendation_id" in missing_id.json()["errors"]
    assert not Event.objects.filter(type="click").exists()
