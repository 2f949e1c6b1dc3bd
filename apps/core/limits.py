"""Request bodies are bounded before anything reads or parses them.

Every request body may be at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes, except where a view names a setting of
its own in ``max_body_setting`` (bulk imports a larger one, the public chat widget a smaller one). Multipart
uploads to views without their own limit pass here: Django bounds their form fields by the same setting, files go
to disk and each upload view checks its files against its own limit.

Two layers apply the same rule: :class:`RequestBodyLimitASGI` wraps the ASGI application, answering 413 from the
``Content-Length`` header without reading the body and cutting a chunked body off once it passes the limit;
:class:`RequestBodyLimitMiddleware` does the same in Django (WSGI servers, the test client) and reads what it lets
through once, so nothing later reads more.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

TOO_LARGE = 413


def body_limit(path: str, content_type: str) -> int | None:
    """How many body bytes a request to ``path`` may carry; None where this layer sets no limit (see above)."""
    try:
        func = resolve(path).func
    except Resolver404:
        func = None
    view_class = getattr(func, "view_class", None) or getattr(func, "cls", None)
    setting = getattr(view_class, "max_body_setting", None)
    if setting:
        return int(getattr(settings, setting))
    if content_type.lower().startswith("multipart/form-data"):
        return None
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large_body(limit: int) -> dict[str, Any]:
    detail = f"The request body is larger than this endpoint accepts ({limit} bytes); send less data per request."
    return {"detail": detail, "errors": {"body": [detail]}}


class RequestBodyLimitMiddleware:
    """Django middleware: 413 for a body over the view's limit, checked before any view, form or parser reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = body_limit(request.path_info, request.META.get("CONTENT_TYPE", ""))
        if limit is None:
            return self.get_response(request)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number.", "errors": {}}, status=400)
        if declared > limit:
            return JsonResponse(too_large_body(limit), status=TOO_LARGE)
        # A chunked body has no Content-Length (and one can be understated): read at most one byte past the limit.
        body = request.read(limit + 1)
        if len(body) > limit:
            return JsonResponse(too_large_body(limit), status=TOO_LARGE)
        # What HttpRequest.body does once it has read the stream; the view's limit replaces the global check there.
        request._body = body
        request._stream = io.BytesIO(body)
        return self.get_response(request)


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class RequestBodyLimitASGI:
    """ASGI middleware: the same limits, applied before the body leaves the server's buffers."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        limit = body_limit(path, headers.get(b"content-type", b"").decode("latin-1"))
        if limit is None:
            await self.app(scope, receive, send)
            return
        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = limit + 1
        if declared > limit:
            await _send_too_large(send, limit)
            return
        received = 0
        cut_off = False

        async def bounded_receive() -> dict[str, Any]:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The application sees the client go away and stops reading; the 413 is sent below.
                    cut_off = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, bounded_receive, send)
        if cut_off:
            await _send_too_large(send, limit)


async def _send_too_large(send: Send, limit: int) -> None:
    body = json.dumps(too_large_body(limit)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": TOO_LARGE,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
