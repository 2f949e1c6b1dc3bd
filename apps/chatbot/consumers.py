"""WebSocket consumers: the widget (customer) and the operator's conversation page.

Both join the conversation's group and receive every event published by the services. The customer sends
``{"type": "message", "text": ...}``; the operator sends ``{"type": "reply", "text": ...}``. Errors come back as
``{"type": "error", "detail": ..., "errors": {...}, "status": 400|429}`` and nothing is lost on the connection.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError

from apps.chatbot import realtime, services
from apps.chatbot.models import Conversation, ConversationState
from apps.core.clients import scope_client_key
from apps.core.outages import REDIS_DOWN_ERRORS, outage_over, warn_outage


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, services.RateLimited):
        return {"type": "error", "status": 429, "detail": str(exc), "errors": {}, "retry_after": exc.retry_after}
    if isinstance(exc, services.Busy):
        return {"type": "error", "status": 503, "detail": str(exc), "errors": {}, "retry_after": exc.retry_after}
    if isinstance(exc, ValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return {"type": "error", "status": 400, "detail": next(iter(errors.values()))[0], "errors": errors}
    raise exc


# RFC 6455 "try again later": the live channel (Redis) is down; the widget shows "Reconnecting…" and retries.
CLOSE_TRY_AGAIN_LATER = 1013


class _ConversationConsumer(AsyncJsonWebsocketConsumer):
    conversation_id: int | None = None
    _accepted = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # A channel-layer call (group_add, the receive loop on the consumer's channel) that cannot reach Redis
        # ends the socket with 1013 instead of an error the server turns into 1011 (or a refused handshake).
        try:
            await super().__call__(scope, receive, send)
        except REDIS_DOWN_ERRORS as exc:
            warn_outage(realtime.CHANNEL_LAYER, exc)
            try:
                if not self._accepted:
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
            except Exception:  # noqa: BLE001, S110 - the client is already gone
                pass

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol, headers)
        self._accepted = True

    async def join(self, conversation_id: int, inbox: bool = False) -> None:
        self.conversation_id = conversation_id
        await self.channel_layer.group_add(realtime.conversation_group(conversation_id), self.channel_name)
        if inbox:
            await self.channel_layer.group_add(realtime.INBOX_GROUP, self.channel_name)
        self.inbox = inbox
        outage_over(realtime.CHANNEL_LAYER)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        try:
            if self.conversation_id is not None:
                await self.channel_layer.group_discard(realtime.conversation_group(self.conversation_id), self.channel_name)
            if getattr(self, "inbox", False):
                await self.channel_layer.group_discard(realtime.INBOX_GROUP, self.channel_name)
        except REDIS_DOWN_ERRORS as exc:  # group memberships expire on their own (channels-redis group_expiry)
            warn_outage(realtime.CHANNEL_LAYER, exc)

    async def chat_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def chat_events(self, message: dict[str, Any]) -> None:
        """Several events in one channel-layer message (realtime.publish_many), sent one by one."""
        for event in message["events"]:
            await self.chat_event({"event": event})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        # uvicorn's --ws-max-size drops bigger frames first where runplatform/compose start it; this holds under any
        # server. The message is refused before it is decoded, and the socket closed (1009: message too big).
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        limit = settings.WEBSOCKET_MAX_MESSAGE_BYTES
        if size > limit:
            detail = f"The message is larger than {limit} bytes."
            await self.send_json({"type": "error", "status": 413, "detail": detail, "errors": {"body": [detail]}})
            await self.close(code=1009)
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "status": 400, "detail": "Send a JSON object.", "errors": {}})
            return
        try:
            await self.handle(content)
        except (ValidationError, services.RateLimited, services.Busy) as exc:
            await self.send_json(_error(exc))

    async def handle(self, content: dict[str, Any]) -> None:
        raise NotImplementedError

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        import json

        try:
            return json.loads(text_data)
        except ValueError:
            return None


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def reply_executor() -> ThreadPoolExecutor:
    """The process's ``CHATBOT_WEBSOCKET_THREADS`` threads that answer WebSocket chat messages."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=settings.CHATBOT_WEBSOCKET_THREADS, thread_name_prefix="chat-reply")
        return _executor


CLOSE_SESSION_INVALID = 4401
CLOSE_ORIGIN_REFUSED = 4403
CLOSE_CONVERSATION_ENDED = 4410


class WidgetConsumer(_ConversationConsumer):
    """``/ws/chatbot/widget/?token=…``: the customer's live channel.

    Open to the shops' pages (any host), so instead of the operators' host check it accepts the origins on the
    token's site's allow-list. The socket ends with its conversation."""

    async def connect(self) -> None:
        self.client_key = scope_client_key(self.scope)
        try:
            await sync_to_async(services.widget_request_allow)(client=self.client_key)
        except services.RateLimited:
            await self.close(code=4429)
            return
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        try:
            conversation = await database_sync_to_async(services.conversation_from_token)(token)
        except services.SessionInvalid:
            await self.close(code=CLOSE_SESSION_INVALID)
            return
        headers = dict(self.scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin-1") or None
        if not services.origin_allowed(site=conversation.site, origin=origin, own_host=headers.get(b"host", b"").decode("latin-1")):
            await self.close(code=CLOSE_ORIGIN_REFUSED)
            return
        await self.join(conversation.pk)

    async def chat_event(self, message: dict[str, Any]) -> None:
        await super().chat_event(message)
        event = message["event"]
        if event.get("type") == "state" and event.get("state") == ConversationState.CLOSED:
            await self.close(code=CLOSE_CONVERSATION_ENDED)

    async def handle(self, content: dict[str, Any]) -> None:
        kind = content.get("type")
        if kind == "message":
            await self.send_json({"type": "typing"})
            # In the reply pool, not the consumers' one shared thread: concurrent replies share model passes.
            await database_sync_to_async(self._post, thread_sensitive=False, executor=reply_executor())(content.get("text"))
            return
        await sync_to_async(services.widget_request_allow)(client=self.client_key)
        if kind == "handoff":
            await database_sync_to_async(self._handoff)()
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "status": 400, "detail": f"Unknown message type {kind!r}.", "errors": {}})

    def _conversation(self) -> Conversation:
        return Conversation.objects.select_related("site").get(pk=self.conversation_id)

    def _post(self, text: Any) -> None:
        services.widget_request_allow(client=self.client_key)
        # The created messages reach this socket through the group, like every other listener's.
        services.customer_message_post(conversation=self._conversation(), text=text)

    def _handoff(self) -> None:
        services.handoff_request(conversation=self._conversation())


class OperatorConsumer(_ConversationConsumer):
    """``/ws/chatbot/operator/<id>/``: an operator's view of one conversation (session login, operator role)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not (user and user.is_authenticated and getattr(user, "is_operator", False)):
            await self.close(code=4403)
            return
        self.user = user
        conversation_id = int(self.scope["url_route"]["kwargs"]["conversation_id"])
        if not await database_sync_to_async(Conversation.objects.filter(pk=conversation_id).exists)():
            await self.close(code=4404)
            return
        await self.join(conversation_id)

    async def handle(self, content: dict[str, Any]) -> None:
        if content.get("type") == "reply":
            await database_sync_to_async(self._reply)(content.get("text"))
        else:
            await self.send_json({"type": "error", "status": 400, "detail": "Unknown message type.", "errors": {}})

    def _reply(self, text: Any) -> None:
        conversation = Conversation.objects.get(pk=self.conversation_id)
        services.operator_reply(conversation=conversation, user=self.user, text=text)


class InboxConsumer(_ConversationConsumer):
    """``/ws/chatbot/inbox/``: tells the operators' queue page when a conversation changes."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not (user and user.is_authenticated and getattr(user, "is_operator", False)):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(realtime.INBOX_GROUP, self.channel_name)
        self.inbox = True
        await self.accept()

    async def handle(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "error", "status": 400, "detail": "The inbox channel only sends.", "errors": {}})
