"""Which pages may open which sockets: operators' only from the dashboard's hosts, the widget's only from its site's
allowed origins; a widget socket ends with its conversation. Through the real ASGI application."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client

from apps.chatbot import services
from apps.chatbot.consumers import CLOSE_CONVERSATION_ENDED, CLOSE_ORIGIN_REFUSED, CLOSE_SESSION_INVALID
from platform_.asgi import application
from tests.apps.chatbot.helpers import demo_site
from tests.apps.chatbot.ws import WebsocketCommunicator
from tests.factories import UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _socket(path: str, *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=list(headers))


async def _opens(communicator: WebsocketCommunicator) -> tuple[bool, int | None]:
    connected, detail = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return connected, None if connected else detail


def test_operator_sockets_refuse_other_sites_pages_even_with_the_operators_cookie():
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    client = Client()
    client.force_login(UserFactory(role="operator"))
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    async def scenario() -> None:
        for path in (f"/ws/chatbot/operator/{conversation.pk}/", "/ws/chatbot/inbox/"):
            # Cross-site WebSocket hijacking: a page elsewhere opening the socket with the operator's cookie.
            assert (await _opens(_socket(path, cookie, (b"origin", b"https://evil.example"))))[0] is False
            assert (await _opens(_socket(path, cookie)))[0] is False  # browsers always send Origin
            assert (await _opens(_socket(path, cookie, (b"origin", b"http://localhost"))))[0] is True

    async_to_sync(scenario)()


def test_the_widget_socket_accepts_its_sites_origins_only():
    site = demo_site()
    site.allowed_origins = "https://shop.example.com"
    site.save()
    token = services.session_token(conversation=services.session_start(site_key=site.site_key))
    path = f"/ws/chatbot/widget/?token={token}"

    async def scenario() -> None:
        assert await _opens(_socket(path, (b"origin", b"https://evil.example"), (b"host", b"chat.downstream.example"))) == (False, CLOSE_ORIGIN_REFUSED)
        assert await _opens(_socket(path, (b"origin", b"https://shop.example.com"), (b"host", b"chat.downstream.example"))) == (True, None)
        # The demo shop page is served by the host that serves the widget.
        assert await _opens(_socket(path, (b"origin", b"https://chat.downstream.example"), (b"host", b"chat.downstream.example"))) == (True, None)

    async_to_sync(scenario)()


def test_the_widget_socket_ends_with_its_conversation():
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    token = services.session_token(conversation=conversation)
    path = f"/ws/chatbot/widget/?token={token}"

    async def scenario() -> None:
        customer = _socket(path)
        assert (await customer.connect())[0]
        await sync_to_async(services.conversation_close)(conversation=conversation)
        events = []
        while True:
            output = await customer.receive_output(timeout=30)
            if output["type"] == "websocket.close":
                break
            events.append(output)
        assert output["code"] == CLOSE_CONVERSATION_ENDED
        assert any('"closed"' in e.get("text", "") for e in events)  # the state event came first
        await customer.disconnect(CLOSE_CONVERSATION_ENDED)  # as a server does once the socket is closed
        # The token opens nothing any more.
        assert await _opens(_socket(path)) == (False, CLOSE_SESSION_INVALID)

    async_to_sync(scenario)()
