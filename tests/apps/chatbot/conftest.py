import pytest

from apps.chatbot import engine, shopping


@pytest.fixture(autouse=True)
def _roomy_rate_limits(settings):
    # Many tests open sessions from 127.0.0.1 within a minute; the flood tests lower these themselves.
    settings.CHATBOT_SESSIONS_PER_MINUTE = 10_000
    settings.CHATBOT_MESSAGES_PER_MINUTE = 10_000
    # Leave torch's thread count alone: the whole suite shares this process (a web process sets it to 1).
    settings.CHATBOT_INFERENCE_THREADS = 0
    yield


@pytest.fixture(autouse=True)
def _fresh_faq_index():
    engine._faq = None
    shopping.clear()
    yield
    engine._faq = None
    shopping.clear()
