"""The widget on the demo shop page in a real browser, against the real ASGI server (uvicorn) and Redis layer.

A customer opens the chat, asks a FAQ question and gets the answer with its source, sees typed HTML stay
text, asks for a human; an operator claims the conversation in the dashboard and replies; the customer sees
the reply live. The ORM is used only outside the ``sync_playwright()`` block (see the dashboard's browser test).
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.chatbot.models import Conversation, ConversationState, Sender
from tests.apps.chatbot.helpers import demo_site, train_intent_model
from tests.browser import CHROMIUM_ARGS, csp_violations
from tests.factories import PASSWORD, UserFactory
from tests.platform_.live_api import uvicorn_server

pytestmark = [pytest.mark.browser, pytest.mark.services]


@pytest.fixture
def asgi_server(transactional_db, settings):
    """uvicorn serving platform_.asgi against the test database, as `make run` serves the platform."""
    call_command("collectstatic", "--noinput", verbosity=0)  # operator pages load their scripts through whitenoise
    env = {"DJANGO_SETTINGS_MODULE": "platform_.settings.test", "CHATBOT_SESSIONS_PER_MINUTE": "1000"}
    with uvicorn_server(env, startup_seconds=60) as (url, _log):
        yield url


def test_customer_asks_faq_then_a_human_and_sees_the_operators_reply(asgi_server, chromium, screenshots):
    from playwright.sync_api import expect, sync_playwright

    demo_site()
    train_intent_model()
    operator = UserFactory(role="operator")
    html = '<img src=x onerror="window.__xss=1">'

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            shopper = browser.new_page()
            blocked = csp_violations(shopper)
            shopper.goto(asgi_server + "/chatbot/demo-shop/")
            shopper.click("[data-dsc=launcher]")
            panel = shopper.locator("[data-dsc=panel]")
            expect(panel).to_have_attribute("data-ready", "true", timeout=30_000)
            expect(panel).to_have_attribute("data-transport", "websocket", timeout=30_000)
            log = shopper.locator("[data-dsc=log]")

            shopper.fill("[data-dsc=input]", "What is your return policy?")
            shopper.press("[data-dsc=input]", "Enter")
            answer = log.locator("[data-sender=bot]").filter(has_text="30 days")
            expect(answer).to_have_count(1, timeout=60_000)
            expect(answer.locator("[data-dsc=faq-source]")).to_have_text("Source: What is your return policy?")
            answer.locator("[data-dsc=feedback-up]").click()
            expect(answer.locator("[data-dsc=feedback-up]")).to_have_attribute("aria-pressed", "true")

            # Typed HTML stays text: shown literally, no element created, no script run.
            shopper.fill("[data-dsc=input]", html)
            shopper.press("[data-dsc=input]", "Enter")
            expect(log.locator("[data-sender=customer]").filter(has_text=html)).to_have_count(1, timeout=30_000)
            assert log.locator("img").count() == 0 and shopper.evaluate("window.__xss") is None

            # Over-long input: a clear error, nothing sent.
            shopper.fill("[data-dsc=input]", "x" * 2001)
            shopper.press("[data-dsc=input]", "Enter")
            expect(shopper.locator("[data-dsc=error]")).to_contain_text("limit is 2000")

            shopper.click("[data-dsc=human]")
            expect(panel).to_have_attribute("data-state", "waiting_for_human", timeout=30_000)
            expect(log.locator("[data-sender=system]").filter(has_text="passing you")).to_have_count(1, timeout=30_000)

            desk = browser.new_page(viewport={"width": 1400, "height": 1000})
            blocked += csp_violations(desk)
            desk.goto(asgi_server + "/login/")
            desk.fill("input[name=username]", operator.username)
            desk.fill("input[name=password]", PASSWORD)
            desk.click("button[type=submit]")
            desk.goto(asgi_server + "/chatbot/")
            desk.locator("[data-waiting-conversation] a").first.click()
            desk.locator("[data-claim]").click()
            expect(desk.locator("#reply-text")).to_be_visible(timeout=30_000)  # the reply form shows once claimed
            desk.fill("#reply-text", "Hi, I'm Sam from support. Let me check that for you.")
            desk.click("#reply-form button[type=submit]")

            reply = log.locator("[data-sender=operator]")
            expect(reply).to_contain_text("Sam from support", timeout=30_000)
            expect(panel).to_have_attribute("data-state", "human")
            # The operator's page is live over its (Origin-checked) WebSocket, and the policy blocked nothing.
            expect(desk.locator("#chat-log")).to_have_attribute("data-transport", "websocket", timeout=30_000)
            assert blocked == []
            shopper.screenshot(path=str(screenshots / "chatbot-widget.png"))
            desk.screenshot(path=str(screenshots / "chatbot-operator.png"))
        finally:
            browser.close()

    conversation = Conversation.objects.get()
    assert conversation.state == ConversationState.HUMAN and conversation.assigned_to == operator
    assert conversation.messages.filter(sender=Sender.CUSTOMER, text=html).exists()
    assert not conversation.messages.filter(sender=Sender.BOT, created_at__gt=conversation.messages.get(sender=Sender.OPERATOR).created_at).exists()
