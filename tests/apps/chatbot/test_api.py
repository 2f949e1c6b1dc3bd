"""The widget's HTTP API (the fallback transport): sessions, messages, polling, errors, CORS."""

import ipaddress
import uuid

import pytest
from django.test import Client

from apps.chatbot.models import Message
from tests.apps.chatbot.helpers import demo_site
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db

BASE = "/api/v1/chatbot/widget/"


@pytest.fixture
def widget():
    site = demo_site()
    client = Client()
    response = client.post(BASE + "sessions/", {"site_key": site.site_key}, content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["messages"][0]["sender"] == "bot" and body["identified"] is False
    assert response["Access-Control-Allow-Origin"] == "*"
    return client, {"HTTP_X_CHAT_TOKEN": body["token"]}, body


def test_send_and_poll(widget):
    client, headers, body = widget
    response = client.post(BASE + "messages/", {"text": "hello"}, content_type="application/json", **headers)
    assert response.status_code == 201
    sent = response.json()["messages"]
    assert sent[0]["sender"] == "customer" and sent[0]["text"] == "hello"
    assert len(sent) == 2 and sent[1]["sender"] == "bot"  # no model yet: FAQ search or fallback
    polled = client.get(BASE + f"messages/?after={body['messages'][-1]['id']}", **headers).json()
    assert [m["id"] for m in polled["messages"]] == [m["id"] for m in sent]
    assert polled["state"] == "bot"


def test_resume_with_the_token_keeps_the_conversation(widget):
    client, headers, body = widget
    again = client.post(BASE + "sessions/", {"site_key": demo_site().site_key, "token": body["token"]}, content_type="application/json")
    assert again.status_code == 200 and again.json()["conversation_id"] == body["conversation_id"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("", "empty"), ("    ", "empty"), ("x" * 2001, "limit is 2000")],
    ids=["empty", "blank", "too-long"],
)
def test_bad_messages_get_400_with_errors(widget, text, fragment):
    client, headers, _ = widget
    before = Message.objects.count()
    response = client.post(BASE + "messages/", {"text": text}, content_type="application/json", **headers)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input." and fragment in body["errors"]["text"][0]
    assert Message.objects.count() == before


def test_html_is_returned_as_plain_text(widget):
    client, headers, _ = widget
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    sent = client.post(BASE + "messages/", {"text": payload}, content_type="application/json", **headers).json()["messages"]
    assert sent[0]["text"] == payload  # JSON string; the widget inserts it with textContent


def test_flooding_answers_429(widget, settings):
    client, headers, _ = widget
    settings.CHATBOT_MESSAGES_PER_MINUTE = 2
    codes = [client.post(BASE + "messages/", {"text": f"hi {i}"}, content_type="application/json", **headers).status_code for i in range(4)]
    assert codes[:2] == [201, 201] and codes[2:] == [429, 429]
    response = client.post(BASE + "messages/", {"text": "again"}, content_type="application/json", **headers)
    assert "too fast" in response.json()["detail"] and int(response["Retry-After"]) >= 1


def test_session_flood_from_one_address_answers_429(settings):
    settings.CHATBOT_SESSIONS_PER_MINUTE = 2
    site = demo_site()
    # An IPv6 address from a random /64 of its own: its own counter, whatever ran before in this minute.
    client = Client(REMOTE_ADDR=str(ipaddress.IPv6Address(uuid.uuid4().int)))
    codes = [client.post(BASE + "sessions/", {"site_key": site.site_key}, content_type="application/json").status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_bad_token_and_unknown_site():
    demo_site()
    client = Client()
    response = client.get(BASE + "messages/", HTTP_X_CHAT_TOKEN="forged")
    assert response.status_code == 401 and "start a new one" in response.json()["detail"]
    response = client.post(BASE + "sessions/", {"site_key": "pk_nope"}, content_type="application/json")
    assert response.status_code == 404 and "site_key" in response.json()["errors"]
    response = client.post(
        BASE + "sessions/", {"site_key": demo_site().site_key, "customer_id": "alice", "customer_signature": "bad"}, content_type="application/json"
    )
    assert response.status_code == 400 and "customer_signature" in response.json()["errors"]


def test_feedback_handoff_and_rating(widget):
    client, headers, body = widget
    greeting = body["messages"][0]["id"]
    assert client.post(BASE + f"messages/{greeting}/feedback/", {"value": "up"}, content_type="application/json", **headers).status_code == 204
    assert client.post(BASE + f"messages/{greeting}/feedback/", {"value": "meh"}, content_type="application/json", **headers).status_code == 400
    response = client.post(BASE + "handoff/", content_type="application/json", **headers)
    assert response.json() == {"state": "waiting_for_human"}
    assert client.post(BASE + "rating/", {"rating": 9}, content_type="application/json", **headers).status_code == 400
    assert client.post(BASE + "rating/", {"rating": 4}, content_type="application/json", **headers).status_code == 204


def test_operator_imports_examples_with_a_scoped_token():
    operator = UserFactory(role="operator")
    client = Client()
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("examples.csv", b"text,intent\nwhere is my parcel,order_status\n", content_type="text/csv")
    denied = client.post("/api/v1/chatbot/examples/import/", {"file": upload}, HTTP_AUTHORIZATION=f"Bearer {token_for(operator, 'chatbot:read')}")
    assert denied.status_code == 403
    upload.seek(0)
    response = client.post("/api/v1/chatbot/examples/import/", {"file": upload}, HTTP_AUTHORIZATION=f"Bearer {token_for(operator, 'chatbot:write')}")
    assert response.status_code == 200 and response.json()["created"] == 1
    anonymous = Client().post("/api/v1/chatbot/faq/import/", {"file": upload})
    assert anonymous.status_code in (401, 403)


def test_widget_script_and_demo_page_are_public():
    demo_site()
    client = Client()
    script = client.get("/chatbot/widget.js")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    page = client.get("/chatbot/demo-shop/")
    assert b'data-site-key="pk_demo_shop"' in page.content and b"data-customer-signature" not in page.content
    signed = client.get("/chatbot/demo-shop/?signed_in=1")
    assert b'data-customer-id="demo-customer"' in signed.content and b"data-customer-signature" in signed.content


def test_product_card_click_is_recorded_as_a_recommendation_click(widget):
    from apps.commerce.models import Event, Product

    client, headers, body = widget
    Product.objects.create(sku="SKU-0009", title="Rain jacket", category="jackets")
    # The bot showed the card in this conversation (only served cards count: tests/apps/chatbot/test_clicks.py).
    Message.objects.create(
        conversation_id=body["conversation_id"],
        sender="bot",
        text="You might like these:",
        payload={"products": [{"sku": "SKU-0009"}], "recommendation_id": "rec-1"},
    )
    response = client.post(BASE + "clicks/", {"sku": "SKU-0009", "recommendation_id": "rec-1"}, content_type="application/json", **headers)
    assert response.status_code == 204
    event = Event.objects.get()
    assert event.type == "click" and event.product.sku == "SKU-0009" and event.recommendation_id == "rec-1"
    assert event.session_id.startswith("chat-")
    unknown = client.post(BASE + "clicks/", {"sku": "SKU-NOPE"}, content_type="application/json", **headers)
    assert unknown.status_code == 400 and unknown.json()["errors"]
