"""Conversations, not single messages: follow-ups fill the slot the bot asked for, refine its last product answer,
and returns find the customer's own order line (real intent model, real MiniLM catalog index, real PostgreSQL)."""

import time
from decimal import Decimal

import pytest

from apps.chatbot import services
from apps.chatbot.models import AnswerSource, Conversation
from apps.commerce.models import ReturnRequest
from tests.apps.chatbot.helpers import demo_site, identified_conversation, small_shop, train_intent_model
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    site = demo_site()
    train_intent_model()
    data = small_shop()
    return site, data


def _say(conversation, text):
    created = services.customer_message_post(conversation=conversation, text=text)
    (answer,) = created[1:]
    return services.message_public(answer)


def _prices(answer):
    return [Decimal(c["price"]) for c in answer["products"]]


def test_order_follow_up_fills_the_slot_the_bot_asked_for(shop):
    site, data = shop
    chat = identified_conversation(site, data["customer"])
    listing = _say(chat, "I want to check my order")
    assert listing["answer_source"] == AnswerSource.ORDER and listing["expecting"] == "order_number"
    assert listing["orders"] == ["DS-700003", "DS-700002", "DS-700001"]  # newest first

    chosen = _say(chat, "the second one")
    assert chosen["orders"] == ["DS-700002"] and "Shipped" in chosen["text"]
    _say(chat, "can you check my orders again")
    assert _say(chat, "the one with the coffee")["orders"] == ["DS-700001"]

    # A bare order number after the question, in another chat.
    other = identified_conversation(site, data["customer"])
    _say(other, "where is my package?")
    assert _say(other, "DS-700001")["orders"] == ["DS-700001"]

    # Someone else's conversation never sees these orders, even when the number is typed.
    anonymous = services.session_start(site_key=site.site_key)
    answer = _say(anonymous, "DS-700001")
    assert answer["orders"] == [] and "DS-700001" not in answer["text"] and "sign" in answer["text"]


def test_catalog_questions_keep_to_their_constraints_and_refine(shop):
    site, data = shop
    chat = identified_conversation(site, data["customer"])
    first = _say(chat, "show me running shoes under 150 euros")
    assert first["answer_source"] == AnswerSource.CATALOG
    assert first["products"] and all(c["category"] == "running shoes" for c in first["products"])
    assert all(p <= Decimal("150") for p in _prices(first))
    assert first["search"]["constraints"]["price_max"] == 150

    cheaper = _say(chat, "something cheaper")
    if min(_prices(first)) > 60:  # the catalog's cheapest pair costs 60
        assert cheaper["products"] and all(c["category"] == "running shoes" for c in cheaper["products"])
        assert max(_prices(cheaper)) < min(_prices(first))
    else:
        assert cheaper["products"] == [] and "couldn't find" in cheaper["text"]

    mid = _say(chat, "running shoes between 130 and 200 euros")
    assert mid["products"] and all(Decimal("130") <= p <= Decimal("200") for p in _prices(mid))
    lower = _say(chat, "that's too expensive")
    assert lower["products"] and max(_prices(lower)) < min(_prices(mid)) and all(c["category"] == "running shoes" for c in lower["products"])

    chat2 = identified_conversation(site, data["customer"])
    shown = {c["sku"] for c in _say(chat2, "do you have rain jackets?")["products"]}
    assert shown and all(sku.startswith("RAIN-") for sku in shown)
    more = _say(chat2, "show me more")
    assert more["products"] and all(c["category"] == "rain jackets" for c in more["products"])
    assert not shown & {c["sku"] for c in more["products"]}

    red = _say(chat2, "in red?")
    assert red["products"] and all(c["attributes"]["colour"] == "red" and c["category"] == "rain jackets" for c in red["products"])

    nothing = _say(chat2, "rain jackets under 20 euros")
    assert nothing["products"] == [] and nothing["search"]["total"] == 0
    assert any(r["constraint"] == "price" for r in nothing["search"]["relax"])


def test_return_the_shoes_i_bought_opens_a_request_for_the_delivered_line(shop):
    site, data = shop
    chat = identified_conversation(site, data["customer"])
    answer = _say(chat, "I want to return the shoes I bought")
    assert answer["answer_source"] == AnswerSource.RETURNS
    request = answer["return_request"]
    assert request["order"] == "DS-700001" and request["sku"] == "RUN-01" and request["eligible"] is True
    row = ReturnRequest.objects.get(pk=request["id"])
    assert row.status == "requested" and row.order_line.order.number == "DS-700001" and row.reference == f"conversation {chat.pk}"
    assert "DS-700003" in answer["text"]  # the pending pair: cancel instead

    # Asking again shows the open request instead of opening a second one.
    again = _say(chat, "I want to return the shoes I bought")
    assert again["return_request"]["id"] == row.pk and ReturnRequest.objects.count() == 1

    jacket = _say(identified_conversation(site, data["customer"]), "please start a return for the jacket")
    assert jacket["return_request"]["eligible"] is False and jacket["return_request"]["reason"] == "in_transit"
    assert ReturnRequest.objects.count() == 1

    anonymous = services.session_start(site_key=site.site_key)
    refused = _say(anonymous, "I want to return the shoes I bought")
    assert refused["return_request"] is None and "sign in" in refused["text"]


def test_a_general_return_asks_which_item_then_takes_the_answer(shop):
    site, data = shop
    chat = identified_conversation(site, data["customer"])
    question = _say(chat, "I'd like to return something from my order")
    assert question["expecting"] == "return_item"
    answer = _say(chat, "the coffee")
    assert answer["return_request"]["sku"] == "COF-02" and answer["return_request"]["eligible"] is True


def test_dialogue_state_expires_and_the_operator_sees_it(shop, client):
    site, data = shop
    chat = identified_conversation(site, data["customer"])
    _say(chat, "I want to check my order")
    operator = UserFactory(role="operator")
    client.force_login(operator)
    page = client.get(f"/chatbot/conversations/{chat.pk}/").content.decode()
    assert "Waiting for the customer to say which order" in page and "DS-700002" in page

    Conversation.objects.filter(pk=chat.pk).update(dialogue={**Conversation.objects.get(pk=chat.pk).dialogue, "at": time.time() - 3 * 3600})
    chat.refresh_from_db()
    answer = _say(chat, "the second one")
    assert answer["orders"] != ["DS-700002"]


def test_operators_decide_return_requests_from_the_inbox(shop, client):
    site, data = shop
    chat = identified_conversation(site, data["customer"])
    request_id = _say(chat, "I want to return the shoes I bought")["return_request"]["id"]
    client.force_login(UserFactory(role="operator"))
    inbox = client.get("/chatbot/").content.decode()
    assert f'data-return-request="{request_id}"' in inbox
    client.post(f"/chatbot/returns/{request_id}/decide/", {"status": "approved"})
    assert ReturnRequest.objects.get(pk=request_id).status == "approved"
    response = client.post(f"/chatbot/returns/{request_id}/decide/", {"status": "requested"}, follow=True)
    assert "can move to" in response.content.decode()
