"""The outbound webhook guard: no callback into the deployment's own network, no redirects, clear errors."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.exceptions import ValidationError

from apps.core import webhooks


@pytest.fixture
def receiver():
    """A local receiver: 204 on /hook (recording bodies), a redirect to the metadata address on /moved."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_internal_addresses_are_refused(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(webhooks.WebhookRefused, match="public addresses only"):
        webhooks.webhook_url_check(url)
    with pytest.raises(ValidationError):
        webhooks.webhook_url_validator(url)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost", "gopher://1.1.1.1/"])
def test_only_http_urls_with_a_host(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    with pytest.raises(webhooks.WebhookRefused, match="http"):
        webhooks.webhook_url_check(url)


def test_public_addresses_pass(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    webhooks.webhook_url_check("https://93.184.216.34/hook")  # an address literal: no DNS lookup needed
    webhooks.webhook_url_check("http://[2606:4700:4700::1111]:8443/hook")


def test_delivery_checks_the_connected_address_too(settings, receiver):
    url, received = receiver
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(webhooks.WebhookRefused):
        webhooks.webhook_post(f"{url}/hook", {"a": 1}, timeout=5)
    assert received == []
    # The socket-level check alone (as if DNS had answered a public address at submission): still refused.
    with pytest.raises(webhooks.WebhookRefused):
        webhooks._guarded_create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), 5)


def test_delivery_posts_json_and_does_not_follow_redirects(settings, receiver):
    url, received = receiver
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    assert webhooks.webhook_post(f"{url}/hook", {"id": 7}, timeout=5) == 204
    assert received == [{"id": 7}]
    with pytest.raises(webhooks.WebhookFailed, match="HTTP 302"):
        webhooks.webhook_post(f"{url}/moved", {"id": 8}, timeout=5)
    assert received == [{"id": 7}]
    with pytest.raises(webhooks.WebhookFailed, match="unreachable"):
        webhooks.webhook_post("http://127.0.0.1:9/hook", {"id": 9}, timeout=5)
