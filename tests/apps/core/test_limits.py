"""Request bodies are bounded before they are read: small for the public widget and most endpoints, larger only
where an endpoint opts in (bulk imports), multipart uploads left to their own limits; WebSocket messages too."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.chatbot import services as chat
from platform_.asgi import application
from tests.apps.chatbot.helpers import demo_site
from tests.apps.chatbot.ws import WebsocketCommunicator

SESSIONS = "/api/v1/chatbot/widget/sessions/"


@pytest.mark.django_db
def test_widget_refuses_a_body_over_its_small_limit_with_413():
    site = demo_site()
    widget = Client()
    body = {"site_key": site.site_key, "token": "x" * 40_000}
    response = widget.post(SESSIONS, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The request body is larger") and response.json()["errors"]["body"]
    assert widget.post(SESSIONS, {"site_key": site.site_key}, content_type="application/json").status_code == 201


@pytest.mark.django_db
def test_widget_refuses_a_32_mb_json_body():
    demo_site()
    payload = b'{"site_key": "' + b"a" * (32 * 1024 * 1024) + b'"}'
    response = Client().post(SESSIONS, payload, content_type="application/json")
    assert response.status_code == 413


@pytest.mark.django_db
def test_other_json_endpoints_take_the_small_global_limit(operator_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = operator_client.post("/api/v1/recommendations/ab-test/", {"candidate": 1, "share": 0.5, "pad": "x" * 20_000}, content_type="application/json")
    assert response.status_code == 413 and response.json()["errors"]["body"]


@pytest.mark.django_db
def test_multipart_uploads_are_not_held_to_the_json_limit(operator_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    rows = "question,answer\n" + "".join(f"Question {i}?,Answer {i}.\n" for i in range(2000))
    upload = SimpleUploadedFile("faq.csv", rows.encode(), content_type="text/csv")
    assert len(rows) > 10_000
    response = operator_client.post("/api/v1/chatbot/faq/import/", {"file": upload})
    assert response.status_code == 200 and response.json()["created"] == 2000


def _http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("localhost", 80),
    }


def _call_asgi(scope: dict, chunks: int, chunk: bytes) -> tuple[list[dict], int]:
    """Run the ASGI application on a body of ``chunks`` × ``chunk``; returns what it sent and how many chunks it read."""
    sent: list[dict] = []
    reads = 0

    async def receive() -> dict:
        nonlocal reads
        reads += 1
        if reads > chunks:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": reads < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    async_to_sync(application)(scope, receive, send)
    return sent, reads


@pytest.mark.django_db
def test_asgi_refuses_by_content_length_without_reading_the_body():
    scope = _http_scope(SESSIONS, [(b"content-length", str(32 * 1024 * 1024).encode())])
    sent, reads = _call_asgi(scope, chunks=512, chunk=b"a" * 65536)
    assert sent[0]["status"] == 413 and reads == 0
    assert json.loads(sent[1]["body"])["errors"]["body"]


@pytest.mark.django_db
def test_asgi_cuts_off_a_chunked_body_at_the_limit(settings):
    # No Content-Length (Transfer-Encoding: chunked): read only until the body passes the widget's limit.
    sent, reads = _call_asgi(_http_scope(SESSIONS, []), chunks=512, chunk=b"a" * 4096)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413]
    assert reads <= settings.CHATBOT_WIDGET_MAX_BODY_BYTES // 4096 + 2


@pytest.mark.django_db(transaction=True)
def test_widget_socket_refuses_an_oversized_message(settings):
    site = demo_site()
    token = chat.session_token(conversation=chat.session_start(site_key=site.site_key))

    async def scenario() -> None:
        socket = WebsocketCommunicator(application, f"/ws/chatbot/widget/?token={token}")
        connected, _ = await socket.connect()
        assert connected
        await socket.send_json_to({"type": "message", "text": "x" * (settings.WEBSOCKET_MAX_MESSAGE_BYTES + 1)})
        error = await socket.receive_json_from()
        assert error["type"] == "error" and error["status"] == 413
        closed = await socket.receive_output(5)
        assert closed == {"type": "websocket.close", "code": 1009}
        await socket.disconnect()

    async_to_sync(scenario)()
