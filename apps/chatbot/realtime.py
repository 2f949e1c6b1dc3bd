"""Live delivery over the Channels layer: one group per conversation, one for the operators' inbox.

Services call :func:`publish` inside their transaction; the event goes out once it commits, so a listener
that reloads on an event always finds the rows. The web process sends it itself (the bot answers in the
request), which is why the in-memory layer of the embedded default works too.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction

from apps.core.outages import REDIS_DOWN_ERRORS, outage_over, warn_outage

logger = logging.getLogger(__name__)

INBOX_GROUP = "chatbot.inbox"
CHANNEL_LAYER = "channel layer (Redis)"


def conversation_group(conversation_id: int) -> str:
    return f"chatbot.conversation.{conversation_id}"


def _send(group: str, event: Any, kind: str = "chat.event") -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": kind, ("events" if kind == "chat.events" else "event"): event})
    except REDIS_DOWN_ERRORS as exc:
        # Redis is away: the reply is stored and the HTTP answer carries it; sockets catch up when they reconnect.
        # One warning per outage, not one per event.
        warn_outage(CHANNEL_LAYER, exc)
        return
    except Exception:  # noqa: BLE001 - live delivery is best effort; the HTTP fallback still has every message
        logger.warning("could not publish a chat event to %s", group, exc_info=True)
        return
    outage_over(CHANNEL_LAYER)


def publish(conversation_id: int, event: dict[str, Any], inbox: bool = False) -> None:
    """Send ``event`` to the conversation's listeners (and the operators' inbox) after the commit."""

    def send() -> None:
        _send(conversation_group(conversation_id), event)
        if inbox:
            _send(INBOX_GROUP, {"type": "inbox", "conversation": conversation_id})

    transaction.on_commit(send)


def publish_many(conversation_id: int, events: list[dict[str, Any]], inbox: bool = False) -> None:
    """:func:`publish` for several events in one channel-layer send (a customer message and the bot's answer)."""
    if len(events) == 1:
        publish(conversation_id, events[0], inbox=inbox)
        return

    def send() -> None:
        _send(conversation_group(conversation_id), events, kind="chat.events")
        if inbox:
            _send(INBOX_GROUP, {"type": "inbox", "conversation": conversation_id})

    transaction.on_commit(send)
