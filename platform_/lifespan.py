"""ASGI lifespan: work each web process does once it has started (after any fork), off the request path."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings


class Lifespan:
    """Answers the server's lifespan messages; at startup warms the chatbot's models in a background thread, so
    the process accepts requests at once and its first chat reply does not pay for loading them."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if settings.CHATBOT_WARM_UP:
                    from apps.chatbot.engine import warm_up

                    threading.Thread(target=warm_up, name="chatbot-warm-up", daemon=True).start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
