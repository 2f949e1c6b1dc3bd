"""Chat throughput (issue 14): bounded work per reply, an answer instead of a queue when a process is full, model
passes shared by concurrent replies, bounded Redis connections. Real PostgreSQL, Redis and a trained intent model;
the load itself is measured by tests/benchmarks/chat_load.py."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.chatbot import engine, services
from apps.chatbot.batching import InferenceBatcher
from apps.chatbot.families import INTENT_FAMILY
from apps.chatbot.models import Message
from apps.mlops.serving import model_cache
from tests.apps.chatbot.helpers import demo_site, train_intent_model

pytestmark = pytest.mark.django_db

BASE = "/api/v1/chatbot/widget/"
# Queries of one widget message over HTTP, by what answered it: the token's conversation, then in one transaction
# the conversation locked, the customer's message, the intent, the bot's message, updated_at (with the transaction's
# begin/commit or savepoint statements); a FAQ answer adds the FAQ index's freshness check.
MAX_QUERIES = {"intent": 8, "faq": 9, "faq_search": 9, "fallback": 9, "order": 9}
TEXTS = ["hi there", "How do returns work?", "what is your refund policy", "thanks a lot", "can I pay with paypal?", "good morning"]


@pytest.fixture
def bot():
    site = demo_site()
    version = train_intent_model()
    return site, version


def _session(client: Client, site) -> dict:  # noqa: ANN001
    response = client.post(BASE + "sessions/", {"site_key": site.site_key}, content_type="application/json")
    assert response.status_code == 201, response.content
    return {"HTTP_X_CHAT_TOKEN": response.json()["token"]}


def test_queries_per_reply_are_bounded(bot, settings):
    site, _ = bot
    # As in production (2 s): the production model version is looked up once per interval, not per message.
    settings.MLOPS_SERVING_REFRESH_SECONDS = 60
    client = Client()
    headers = _session(client, site)
    client.post(BASE + "messages/", {"text": "hello"}, content_type="application/json", **headers)  # loads the model
    engine.faq_searcher()  # the index is built once per process (and when the articles change)
    sources = set()
    for text in TEXTS:
        with CaptureQueriesContext(connection) as queries:
            response = client.post(BASE + "messages/", {"text": text}, content_type="application/json", **headers)
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["state"] == "bot" and len(body["messages"]) == 2
        source = body["messages"][1]["answer_source"]
        sources.add(source)
        assert len(queries) <= MAX_QUERIES[source], "\n".join([text, source] + [q["sql"][:70] for q in queries.captured_queries])
    assert {"intent", "faq"} <= sources  # both kinds of answer were measured


def test_a_full_process_answers_503_with_retry_after_and_stores_nothing(bot, settings):
    site, _ = bot
    client = Client()
    headers = _session(client, site)
    settings.CHATBOT_REPLIES_IN_FLIGHT = 1
    before = Message.objects.count()
    with services.reply_slot():  # another reply holds the process's only slot
        response = client.post(BASE + "messages/", {"text": "hi there"}, content_type="application/json", **headers)
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert set(body) == {"detail", "errors"} and "busy" in body["detail"]
    assert Message.objects.count() == before
    # The slot is free again: the same message is answered.
    response = client.post(BASE + "messages/", {"text": "hi there"}, content_type="application/json", **headers)
    assert response.status_code == 201 and len(response.json()["messages"]) == 2


def test_the_slots_are_given_back_after_errors(settings):
    settings.CHATBOT_REPLIES_IN_FLIGHT = 2
    with pytest.raises(RuntimeError), services.reply_slot():
        raise RuntimeError("a reply failed")
    with services.reply_slot(), services.reply_slot():
        with pytest.raises(services.Busy) as busy, services.reply_slot():
            pass
        assert busy.value.retry_after >= 1
    with services.reply_slot(), services.reply_slot():
        pass


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_full_process_answers_a_websocket_message_with_a_503_event(settings):
    from platform_.asgi import application
    from tests.apps.chatbot.ws import WebsocketCommunicator

    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    token = services.session_token(conversation=conversation)
    settings.CHATBOT_REPLIES_IN_FLIGHT = 1

    async def scenario() -> list[dict]:
        socket = WebsocketCommunicator(application, f"/ws/chatbot/widget/?token={token}")
        connected, _ = await socket.connect()
        assert connected
        await socket.send_json_to({"type": "message", "text": "hi there"})
        events = [await socket.receive_json_from(timeout=30)]
        while events[-1]["type"] == "typing":
            events.append(await socket.receive_json_from(timeout=30))
        await socket.disconnect()
        return events

    with services.reply_slot():
        events = async_to_sync(scenario)()
    error = events[-1]
    assert error["type"] == "error" and error["status"] == 503 and error["retry_after"] >= 1 and "errors" in error
    assert not conversation.messages.filter(sender="customer").exists()


class _GatedPredictor:
    """The real predictor, whose first pass waits until ``waiting`` more messages are queued behind it (so the test
    knows which batches the batcher forms)."""

    def __init__(self, predictor, batcher: InferenceBatcher, waiting: int) -> None:  # noqa: ANN001
        self.predictor, self.batcher, self.waiting = predictor, batcher, waiting
        self.calls: list[int] = []

    def classify_and_embed(self, texts):  # noqa: ANN001, ANN201
        if not self.calls:
            deadline = time.monotonic() + 60
            while len(self.batcher._pending) < self.waiting and time.monotonic() < deadline:
                time.sleep(0.005)
        self.calls.append(len(texts))
        return self.predictor.classify_and_embed(texts)


def test_the_batcher_gives_each_message_its_unbatched_answer(bot):
    predictor = model_cache.predictor(model_cache.production(INTENT_FAMILY))
    texts = TEXTS + ["where is my order?", "I want to talk to a human"]
    atol = 1e-5 if str(predictor.dtype) == "torch.float32" else 2e-3
    alone = [predictor.classify_and_embed([t]) for t in texts]

    batcher = InferenceBatcher(max_batch=16)
    gated = _GatedPredictor(predictor, batcher, waiting=len(texts) - 1)
    results: dict[int, tuple] = {}
    errors: list[BaseException] = []

    def reply(i: int) -> None:
        try:
            results[i] = batcher.classify_and_embed(gated, texts[i])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    first = threading.Thread(target=reply, args=(0,))
    first.start()
    deadline = time.monotonic() + 60
    while not (batcher._running and not batcher._pending) and time.monotonic() < deadline:  # the first pass has begun
        time.sleep(0.001)
    others = [threading.Thread(target=reply, args=(i,)) for i in range(1, len(texts))]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(120)
    assert not errors
    # The first message went alone; the others, queued meanwhile, shared one pass.
    assert gated.calls == [1, len(texts) - 1] and batcher.passes == 2 and batcher.largest_batch == len(texts) - 1
    for i in range(len(texts)):
        probs, embedding, typicality = results[i]
        single_probs, single_embeddings, single_typicality = alone[i]
        assert probs.shape == single_probs.shape
        # To rounding: a padded batch sums in another order (the tolerance of ml's own single-vs-batch test).
        np.testing.assert_allclose(probs, single_probs, atol=atol)
        assert int(probs.argmax()) == int(single_probs.argmax())
        if single_typicality is not None:
            np.testing.assert_allclose(typicality, single_typicality, atol=atol)
        predicted = predictor.predictions(probs, typicality)[0]
        expected = predictor.predictions(single_probs, single_typicality)[0]
        assert (predicted.intent, predicted.out_of_scope) == (expected.intent, expected.out_of_scope)
        if single_embeddings is not None:
            assert float(np.dot(embedding, single_embeddings[0])) > 0.999


def test_a_failing_pass_raises_in_every_caller_and_the_batcher_recovers(bot):
    predictor = model_cache.predictor(model_cache.production(INTENT_FAMILY))
    batcher = InferenceBatcher(max_batch=4)

    class Broken:
        def classify_and_embed(self, texts):  # noqa: ANN001, ANN201
            raise ValueError("model file unreadable")

    with pytest.raises(ValueError, match="unreadable"):
        batcher.classify_and_embed(Broken(), "hi")
    probs, _, _ = batcher.classify_and_embed(predictor, "hi there")  # not stuck in the leading role
    assert probs.shape == (1, len(predictor.classes))


@pytest.mark.services
def test_the_cache_shares_one_bounded_redis_pool_per_process(settings):
    from apps.core.redis_pool import SharedConnectionPool

    if not settings.REDIS_URL:
        pytest.skip("no Redis")
    pools = []
    barrier = threading.Barrier(40)

    def use_cache(i: int) -> None:
        cache = caches["default"]  # Django builds a backend per thread
        barrier.wait(30)
        for n in range(20):
            cache.set(f"throughput-test:{i}:{n}", n, timeout=30)
            assert cache.get(f"throughput-test:{i}:{n}") == n
        pools.append(cache._cache._get_connection_pool(True))

    threads = [threading.Thread(target=use_cache, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(pools) == 40
    pool = pools[0]
    assert all(p is pool for p in pools)
    assert isinstance(pool, SharedConnectionPool) and pool.max_connections == settings.CACHES["default"]["OPTIONS"]["max_connections"]
    assert len(pool._connections) <= pool.max_connections  # 40 threads, at most max_connections connections


@pytest.mark.services
def test_the_channel_layer_pool_is_bounded(settings):
    from channels.layers import get_channel_layer

    if not settings.REDIS_URL:
        pytest.skip("no Redis")
    layer = get_channel_layer()
    pool = layer.create_pool(0)
    try:
        assert type(pool).__name__ == "BlockingConnectionPool"
        assert pool.max_connections == settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["max_connections"]
    finally:
        async_to_sync(pool.disconnect)()
