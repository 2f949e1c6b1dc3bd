"""The widget in a real browser while the Redis that carries the chat's live channel goes away and comes back.

uvicorn serves the platform with cache and channel layer on a redis-server of the test's own. When it stops, the
server closes the widget's socket with 1013; the widget says "Reconnecting…", keeps chatting over HTTP and retries
the socket with backoff; once Redis is back, the socket opens again and the notice goes away.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.apps.chatbot.helpers import demo_site
from tests.browser import CHROMIUM_ARGS
from tests.platform_.live_api import uvicorn_server
from tests.processes import free_port

pytestmark = [pytest.mark.browser, pytest.mark.services]


@pytest.fixture
def asgi_on_private_redis(transactional_db, private_redis):
    call_command("collectstatic", "--noinput", verbosity=0)

    env = {"DJANGO_SETTINGS_MODULE": "platform_.settings.test", "REDIS_URL": private_redis.url, "CACHE_OUTAGE_RETRY_SECONDS": "1"}
    with uvicorn_server(env, port=free_port(range(18400, 18500)), startup_seconds=60) as (url, log_path):
        yield url, private_redis, log_path


def test_widget_shows_reconnecting_chats_over_http_and_reconnects_when_redis_is_back(asgi_on_private_redis, chromium):
    from playwright.sync_api import expect, sync_playwright

    url, redis_server, log_path = asgi_on_private_redis
    demo_site()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            shopper = browser.new_page()
            shopper.goto(url + "/chatbot/demo-shop/")
            shopper.click("[data-dsc=launcher]")
            panel = shopper.locator("[data-dsc=panel]")
            expect(panel).to_have_attribute("data-transport", "websocket", timeout=30_000)

            redis_server.stop()
            expect(panel).to_have_attribute("data-connection", "reconnecting", timeout=15_000)
            expect(shopper.locator("[data-dsc=error]")).to_have_text("Reconnecting…")
            # HTTP polls keep succeeding meanwhile (every 2 s); they must not clear the notice while the socket is
            # still down.
            shopper.wait_for_timeout(2_500)
            expect(panel).to_have_attribute("data-connection", "reconnecting")
            expect(shopper.locator("[data-dsc=error]")).to_have_text("Reconnecting…", timeout=100)
            # Chatting goes on over HTTP meanwhile.
            shopper.fill("[data-dsc=input]", "What is your return policy?")
            shopper.press("[data-dsc=input]", "Enter")
            log = shopper.locator("[data-dsc=log]")
            expect(log.locator("[data-sender=customer]").filter(has_text="return policy")).to_have_count(1, timeout=30_000)
            expect(log.locator("[data-sender=bot]")).to_have_count(2, timeout=60_000)  # the greeting and the answer

            redis_server.start()
            # The next retry (backoff 1 s, 2 s, 4 s, … with jitter) opens the socket again.
            expect(panel).to_have_attribute("data-connection", "ok", timeout=30_000)
            expect(panel).to_have_attribute("data-transport", "websocket", timeout=30_000)
            expect(shopper.locator("[data-dsc=error]")).to_have_text("")
        finally:
            browser.close()
    server_log = log_path.read_text()
    assert "Traceback" not in server_log, server_log[-3000:]
