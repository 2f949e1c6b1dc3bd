"""Product advice in the chat through the recommendations services, and the card click recorded as an event."""

import pytest
from django.test import Client

from apps.chatbot.models import AnswerSource, Message, Sender
from apps.chatbot.services import customer_signature
from apps.recommendations import services as recs
from apps.recommendations.families import POPULARITY_FAMILY
from tests.apps.chatbot.helpers import demo_site, train_intent_model
from tests.apps.recommendations.conftest import train_family
from tests.apps.recommendations.factories import make_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_recommendation_caches():
    recs.clear_caches()
    yield
    recs.clear_caches()


def test_product_advice_shows_cards_and_a_click_is_recorded():
    from apps.commerce.models import Event

    site = demo_site()
    train_intent_model()
    shop = make_shop(customers_per_category=4, events_per_customer=4)
    train_family(POPULARITY_FAMILY)
    customer = next(iter(shop["taste"]))  # an identified shopper with a history

    widget = Client()
    body = {"site_key": site.site_key, "customer_id": customer, "customer_signature": customer_signature(site=site, customer_external_id=customer)}
    token = widget.post("/api/v1/chatbot/widget/sessions/", body, content_type="application/json").json()["token"]
    messages = widget.post(
        "/api/v1/chatbot/widget/messages/", {"text": "can you recommend something?"}, content_type="application/json", HTTP_X_CHAT_TOKEN=token
    ).json()["messages"]
    answer = messages[-1]
    assert answer["answer_source"] == AnswerSource.RECOMMENDATIONS
    assert 1 <= len(answer["products"]) <= 4 and answer["recommendation_id"]
    assert all(card["sku"] and card["title"] for card in answer["products"])
    stored = Message.objects.filter(sender=Sender.BOT).latest("id")
    assert stored.payload["recommendation_id"] == answer["recommendation_id"]

    sku = answer["products"][0]["sku"]
    response = widget.post(
        "/api/v1/chatbot/widget/clicks/",
        {"sku": sku, "recommendation_id": answer["recommendation_id"]},
        content_type="application/json",
        HTTP_X_CHAT_TOKEN=token,
    )
    assert response.status_code == 204
    click = Event.objects.get(type="click")
    assert click.product.sku == sku and click.recommendation_id == answer["recommendation_id"]
