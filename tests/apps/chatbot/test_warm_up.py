"""A fresh web process loads the chatbot's models at ASGI startup, in the background, not at the first reply."""

import threading

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

from apps.chatbot import engine
from apps.mlops.serving import model_cache
from platform_.asgi import application
from tests.apps.chatbot.helpers import demo_site, train_intent_model

pytestmark = pytest.mark.django_db(transaction=True)  # the warm-up reads the database from its own thread


def _start_process() -> None:
    async def lifespan() -> None:
        server = ApplicationCommunicator(application, {"type": "lifespan", "asgi": {"version": "3.0"}})
        await server.send_input({"type": "lifespan.startup"})
        assert await server.receive_output(10) == {"type": "lifespan.startup.complete"}
        await server.send_input({"type": "lifespan.shutdown"})
        assert await server.receive_output(10) == {"type": "lifespan.shutdown.complete"}

    async_to_sync(lifespan)()
    for thread in threading.enumerate():
        if thread.name == "chatbot-warm-up":
            thread.join(120)


def test_startup_loads_the_intent_model_and_the_faq_index():
    demo_site()
    version = train_intent_model()
    model_cache.clear()
    _start_process()
    assert version.pk in model_cache._loaded
    assert engine._faq is not None and engine._faq[1].articles


def test_startup_without_a_model_or_with_warm_up_off_still_starts(settings):
    _start_process()  # no intent model, no FAQ: logged, nothing raised
    settings.CHATBOT_WARM_UP = False
    demo_site()
    engine._faq = None
    _start_process()
    assert engine._faq is None
