"""A WebSocket test client for ASGI apps, as channels' ``WebsocketCommunicator`` does.

``channels.testing`` cannot be imported without daphne (its package imports the live-server test case), and
the project serves ASGI with uvicorn, so this small equivalent builds on asgiref's communicator instead.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlparse

from asgiref.testing import ApplicationCommunicator


class WebsocketCommunicator(ApplicationCommunicator):
    def __init__(self, application: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        parsed = urlparse(path)
        scope = {"type": "websocket", "path": unquote(parsed.path), "query_string": parsed.query.encode(), "headers": headers or [], "subprotocols": []}
        super().__init__(application, scope)

    async def connect(self, timeout: float = 10) -> tuple[bool, Any]:
        """(True, subprotocol) when accepted, (False, close code) when refused."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            # As a real server does: the refused socket is gone, so the application gets its disconnect and ends
            # now, not later when the event loop shuts down with the consumer still reading the channel layer.
            code = response.get("code", 1000)
            await self.disconnect(code, timeout)
            return False, code
        assert response["type"] == "websocket.accept", response
        return True, response.get("subprotocol")

    async def send_to(self, text_data: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def send_json_to(self, data: Any) -> None:
        await self.send_to(json.dumps(data))

    async def receive_json_from(self, timeout: float = 10) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 5) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)
