"""Who the widget's customer and the operator are to each other: signed identities with an expiry, tokens that end
with their conversation, a per-site list of origins, the demo shop only in demo mode, operators by display name."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.chatbot import services
from apps.chatbot.models import Conversation, Site
from tests.apps.chatbot.helpers import demo_site
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/chatbot/widget/"


def _start(client: Client, site: Site, origin: str | None = None, **body):  # noqa: ANN003, ANN202
    headers = {"Origin": origin} if origin else {}
    return client.post(BASE + "sessions/", {"site_key": site.site_key, **body}, content_type="application/json", headers=headers)


# --- Customer identity signatures carry an expiry -------------------------------------------------------------


def test_a_signed_identity_is_accepted_until_it_expires():
    site = demo_site()
    client = Client()
    fresh = services.customer_signature(site=site, customer_external_id="alice")
    expires, _, digest = fresh.partition(".")
    assert int(expires) > time.time() and len(digest) == 64
    response = _start(client, site, customer_id="alice", customer_signature=fresh)
    assert response.status_code == 201 and response.json()["identified"] is True

    expired = services.customer_signature(site=site, customer_external_id="alice", expires=int(time.time()) - 5)
    response = _start(client, site, customer_id="alice", customer_signature=expired)
    assert response.status_code == 400 and "expired" in response.json()["errors"]["customer_signature"][0]


def test_a_signature_without_expiry_or_valid_for_too_long_is_refused(settings):
    site = demo_site()
    client = Client()
    # Yesterday's format (a bare HMAC of the customer id) was valid forever once copied from a page.
    import hashlib
    import hmac

    forever = hmac.new(site.secret.encode(), b"alice", hashlib.sha256).hexdigest()
    response = _start(client, site, customer_id="alice", customer_signature=forever)
    assert response.status_code == 400 and "expires" in response.json()["errors"]["customer_signature"][0]

    far = services.customer_signature(site=site, customer_external_id="alice", expires=int(time.time()) + settings.CHATBOT_IDENTITY_MAX_AGE + 3600)
    response = _start(client, site, customer_id="alice", customer_signature=far)
    assert response.status_code == 400 and "too late" in response.json()["errors"]["customer_signature"][0]

    # The expiry is signed: moving it forward breaks the signature.
    good = services.customer_signature(site=site, customer_external_id="alice")
    expires, _, digest = good.partition(".")
    response = _start(client, site, customer_id="alice", customer_signature=f"{int(expires) + 60}.{digest}")
    assert response.status_code == 400 and "Does not match" in response.json()["errors"]["customer_signature"][0]


# --- Widget tokens end with their conversation ----------------------------------------------------------------


def test_a_closed_conversations_token_reads_and_rates_for_a_while_then_opens_nothing(settings):
    site = demo_site()
    client = Client()
    token = _start(client, site).json()["token"]
    conversation = services.conversation_from_token(token)
    services.conversation_close(conversation=conversation)
    headers = {"X-Chat-Token": token}

    # Writing to the ended chat: the token no longer works.
    for path, body in [("messages/", {"text": "hello again"}), ("handoff/", {}), ("clicks/", {"sku": "SKU-1", "recommendation_id": "rec-1"})]:
        response = client.post(BASE + path, body, content_type="application/json", headers=headers)
        assert response.status_code == 401, (path, response.content)
        assert "ended" in response.json()["detail"]
    # Within the grace period the widget still shows the closing message and takes the rating.
    messages = client.get(BASE + "messages/", headers=headers)
    assert messages.status_code == 200 and messages.json()["state"] == "closed"
    assert client.post(BASE + "rating/", {"rating": 5}, content_type="application/json", headers=headers).status_code == 204
    # Resuming with it starts a new conversation.
    resumed = _start(client, site, token=token)
    assert resumed.status_code == 201 and resumed.json()["conversation_id"] != conversation.pk

    # After the grace period, nothing.
    Conversation.objects.filter(pk=conversation.pk).update(closed_at=timezone.now() - timedelta(seconds=settings.CHATBOT_CLOSED_TOKEN_GRACE + 1))
    assert client.get(BASE + "messages/", headers=headers).status_code == 401
    assert client.post(BASE + "rating/", {"rating": 4}, content_type="application/json", headers=headers).status_code == 401
    with pytest.raises(services.SessionInvalid):
        services.conversation_from_token(token, after_close=True)


# --- Per-site allowed origins (HTTP side; the WebSocket side is in test_websocket_origins.py) ---------------------


def test_only_allowed_origins_and_downstreams_own_pages_open_a_session():
    site = demo_site()
    site.allowed_origins = "https://shop.example.com\nhttps://www.shop.example.com:8443"
    site.full_clean()
    site.save()
    client = Client()

    refused = _start(client, site, origin="https://evil.example")
    assert refused.status_code == 403
    assert "https://evil.example" in refused.json()["detail"] and "allowed origins" in refused.json()["detail"]
    assert _start(client, site, origin="https://shop.example.com").status_code == 201
    assert _start(client, site, origin="https://www.shop.example.com:8443").status_code == 201
    assert _start(client, site, origin="http://shop.example.com").status_code == 403  # scheme is part of the origin
    # The demo shop page is served by Downstream itself; a server-side call sends no Origin.
    assert _start(client, site, origin="http://testserver").status_code == 201
    token = _start(client, site).json()["token"]

    # A token carried to another site's page does not work there either.
    stolen = client.post(BASE + "messages/", {"text": "hi"}, content_type="application/json", headers={"X-Chat-Token": token, "Origin": "https://evil.example"})
    assert stolen.status_code == 403
    resumed = _start(client, site, token=token, origin="https://evil.example")
    assert resumed.status_code == 403


def test_an_allowed_origin_must_be_an_origin():
    from django.core.exceptions import ValidationError

    site = demo_site()
    site.allowed_origins = "https://shop.example.com/checkout"
    with pytest.raises(ValidationError, match="Not an origin"):
        site.full_clean()


# --- The demo shop exists only in demo mode, on the demo site only ----------------------------------------------


def test_the_demo_shop_is_gone_outside_demo_mode(settings):
    demo_site()
    settings.DOWNSTREAM_DEMO = False
    assert Client().get("/chatbot/demo-shop/?signed_in=1").status_code == 404
    settings.DOWNSTREAM_DEMO = True
    assert Client().get("/chatbot/demo-shop/?signed_in=1").status_code == 200


def test_the_demo_shop_never_signs_for_a_real_site(settings):
    settings.DOWNSTREAM_DEMO = True
    real = Site.objects.create(name="Real shop")
    response = Client().get("/chatbot/demo-shop/?signed_in=1")
    assert response.status_code == 200 and b"demo chat site is missing" in response.content
    assert real.site_key.encode() not in response.content and b"data-customer-signature" not in response.content


# --- Customers see an operator's display name, never the login name --------------------------------------------


def test_customers_see_the_operators_display_name_not_the_login_name():
    site = demo_site()
    client = Client()
    token = _start(client, site).json()["token"]
    conversation = services.conversation_from_token(token)
    services.handoff_request(conversation=conversation)
    anna = UserFactory(role="operator", username="a.mueller-admin", display_name="Anna")
    services.conversation_claim(conversation=conversation, user=anna)
    services.operator_reply(conversation=conversation, user=anna, text="Hi, how can I help?")
    nameless = UserFactory(role="operator", username="ops-account-7", first_name="", display_name="")
    services.conversation_transfer(conversation=conversation, user=anna, to_user=nameless)

    seen = client.get(BASE + "messages/", headers={"X-Chat-Token": token})
    assert seen.status_code == 200
    body = seen.content.decode()
    assert "a.mueller-admin" not in body and "ops-account-7" not in body
    texts = [m["text"] for m in seen.json()["messages"]]
    assert "Anna joined the chat." in texts and "Support is taking over this chat." in texts
    assert [m["operator"] for m in seen.json()["messages"] if m["sender"] == "operator"] == ["Anna"]
