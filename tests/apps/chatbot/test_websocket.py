"""Live delivery through the real ASGI application and the Redis channel layer (a communicator like channels' own).

Runs the async side with ``async_to_sync`` so no pytest async plugin is needed; the consumers reach the
database from worker threads, so the tests use committed transactions.
"""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.test import Client

from apps.chatbot import services
from apps.chatbot.models import Conversation, ConversationState, Sender
from platform_.asgi import application
from tests.apps.chatbot.helpers import demo_site
from tests.apps.chatbot.ws import WebsocketCommunicator
from tests.factories import UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
# Operator sockets accept pages of the dashboard's own hosts only (ALLOWED_HOSTS); browsers always send Origin.
DASHBOARD_ORIGIN = (b"origin", b"http://localhost")


def _widget(token: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/chatbot/widget/?token={token}")


async def _until(communicator: WebsocketCommunicator, predicate, timeout: float = 90) -> list[dict]:  # noqa: ANN001
    """Receive events until one matches ``predicate``; returns all received."""
    seen = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        event = await communicator.receive_json_from(timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
        seen.append(event)
        if predicate(event):
            return seen


def test_the_channel_layer_follows_redis_url():
    # Redis carries events between web processes; without it (the no-services fallback) the in-memory layer.
    expected = "apps.core.redis_pool.BoundedRedisChannelLayer" if settings.REDIS_URL else "channels.layers.InMemoryChannelLayer"
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == expected


def test_customer_and_operator_round_trip_over_websockets():
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    token = services.session_token(conversation=conversation)
    operator = UserFactory(role="operator")
    client = Client()
    client.force_login(operator)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario() -> None:
        customer = _widget(token)
        connected, _ = await customer.connect()
        assert connected
        # A message over the socket: typing, then the customer's own message and the bot's answer come back.
        await customer.send_json_to({"type": "message", "text": "How long does a refund take?"})
        events = await _until(customer, lambda e: e.get("type") == "message" and e["message"]["sender"] == "bot")
        assert events[0] == {"type": "typing"}
        senders = [e["message"]["sender"] for e in events if e.get("type") == "message"]
        assert senders == ["customer", "bot"]

        # Bad input over the socket: a clear error event, the connection stays usable.
        await customer.send_json_to({"type": "message", "text": "x" * 2001})
        error = await _until(customer, lambda e: e.get("type") == "error")
        assert error[-1]["status"] == 400 and "2000" in error[-1]["detail"]
        await customer.send_to(text_data="not json")
        assert (await _until(customer, lambda e: e.get("type") == "error"))[-1]["status"] == 400

        await customer.send_json_to({"type": "handoff"})
        await _until(customer, lambda e: e.get("type") == "state" and e["state"] == ConversationState.WAITING)

        operator_socket = WebsocketCommunicator(application, f"/ws/chatbot/operator/{conversation.pk}/", headers=[(b"cookie", cookie), DASHBOARD_ORIGIN])
        assert (await operator_socket.connect())[0]
        await sync_to_async(services.conversation_claim)(conversation=conversation, user=operator)
        await _until(customer, lambda e: e.get("type") == "state" and e["state"] == ConversationState.HUMAN)

        # The operator replies live; the customer sees it, and the bot stays silent on the next message.
        await operator_socket.send_json_to({"type": "reply", "text": "<b>Hi</b>, Sam here."})
        reply = await _until(customer, lambda e: e.get("type") == "message" and e["message"]["sender"] == "operator")
        assert reply[-1]["message"]["text"] == "<b>Hi</b>, Sam here."
        await customer.send_json_to({"type": "message", "text": "thanks, where is my order?"})
        echoed = await _until(operator_socket, lambda e: e.get("type") == "message" and e["message"]["text"].startswith("thanks"))
        assert echoed[-1]["message"]["sender"] == "customer"
        # Give a (wrong) bot reply time to appear; the database check below would see it.
        await asyncio.sleep(1)
        await customer.disconnect()
        await operator_socket.disconnect()

    async_to_sync(scenario)()
    last = Conversation.objects.get(pk=conversation.pk).messages.order_by("-id").first()
    assert last.sender == Sender.CUSTOMER and last.text.startswith("thanks")


def test_sockets_refuse_bad_tokens_and_non_operators():
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)

    async def scenario() -> None:
        forged = _widget("forged")
        connected, code = await forged.connect()
        assert not connected and code == 4401
        anonymous_operator = WebsocketCommunicator(application, f"/ws/chatbot/operator/{conversation.pk}/", headers=[DASHBOARD_ORIGIN])
        connected, code = await anonymous_operator.connect()
        assert not connected and code == 4403

    async_to_sync(scenario)()
