"""Fault drill: the Redis that is cache, broker and channel layer goes away and comes back.

A redis-server of the test's own (never the shared one) carries everything; a real Celery worker runs a training
run; requests come from threads as clients would send them: an ingestion client posting event batches, a shopper
chatting over HTTP, an operator reading and starting runs. Redis is stopped while all of that is in flight, then
started again, empty, as a Redis without persistence comes back.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client

from apps.commerce.models import Event
from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import RunStatus, TrainingRun, WorkerHeartbeat
from tests.apps.chatbot.helpers import demo_site
from tests.factories import UserFactory, token_for
from tests.workers import celery_worker, redis_everything, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

RECOVERY_SECONDS = 30
BATCH = 20


class _Traffic(threading.Thread):
    """Sends one request after another until stopped; keeps every status code."""

    def __init__(self, send) -> None:  # noqa: ANN001
        super().__init__(daemon=True)
        self.send = send
        self.statuses: list[int] = []
        self.times: list[float] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.statuses.append(self.send())
                self.times.append(time.monotonic())
                time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            connection.close()

    def between(self, start: float, end: float) -> list[int]:
        return [s for s, t in zip(self.statuses, self.times, strict=False) if start <= t <= end]

    def finish(self) -> list[int]:
        self.stop.set()
        self.join(timeout=30)
        assert self.error is None, self.error
        return self.statuses


def _healthz(client: Client) -> tuple[int, dict]:
    response = client.get("/healthz")
    return response.status_code, response.json()["checks"]


def test_redis_outage_degrades_answers_503_for_broker_writes_and_recovers_without_restart(private_redis, settings, operator_client):
    settings.CACHE_OUTAGE_RETRY_SECONDS = 1
    settings.CHATBOT_MESSAGES_PER_MINUTE = 10_000
    settings.REDISPATCH_QUEUED_AFTER_SECONDS = 1
    redis_env = {"REDIS_URL": private_redis.url, "CACHE_OUTAGE_RETRY_SECONDS": "1", "MLOPS_HEARTBEAT_SECONDS": "1"}

    integrator = Client(headers={"Authorization": f"Token {token_for(UserFactory(role='integrator'), 'commerce:read', 'commerce:write')}"})
    products = [{"sku": "TEA-1", "title": "Sencha", "category": "tea", "price": 6.5}]
    assert integrator.post("/api/v1/commerce/products/bulk/", {"rows": products}, content_type="application/json").status_code == 200
    site = demo_site()

    with redis_everything(settings, private_redis.url), celery_worker(env=redis_env) as worker:
        # --- in flight: a long run on the worker, a run queued behind it, ingestion, a chat ------------------------
        long_run = operator_client.post(
            "/api/v1/runs/", {"family": DEMO_FAMILY, "config": {"epochs": 100_000, "n_samples": 3000}}, content_type="application/json"
        )
        assert long_run.status_code == 201, long_run.content
        long_id = long_run.json()["id"]
        wait_for(lambda: TrainingRun.objects.get(pk=long_id).progress > 0, timeout=60, message=f"the long run to progress\n{worker.log()[-3000:]}")
        behind = operator_client.post("/api/v1/runs/", {"family": DEMO_FAMILY, "config": {"epochs": 5}}, content_type="application/json")
        assert behind.status_code == 201
        behind_id = behind.json()["id"]  # its message waits in Redis behind the long run: the outage loses it

        events_before = Event.objects.count()
        sent_batches: list[list[dict]] = []

        def post_events() -> int:
            rows = [{"event_id": f"drill-{uuid.uuid4().hex}", "type": "view", "sku": "TEA-1", "session_id": "drill"} for _ in range(BATCH)]
            response = integrator.post("/api/v1/commerce/events/bulk/", {"rows": rows}, content_type="application/json")
            if response.status_code == 200:
                assert response.json()["created"] == BATCH, response.json()
                sent_batches.append(rows)
            return response.status_code

        widget = Client()
        session = widget.post("/api/v1/chatbot/widget/sessions/", {"site_key": site.site_key}, content_type="application/json")
        assert session.status_code == 201
        chat_token = session.json()["token"]
        bot_replies = []

        def chat() -> int:
            response = widget.post(
                "/api/v1/chatbot/widget/messages/", {"text": "where is my order?"}, content_type="application/json", HTTP_X_CHAT_TOKEN=chat_token
            )
            if response.status_code == 201:
                bot_replies.append(response.json()["messages"][-1]["sender"])
            return response.status_code

        assert chat() == 201  # the first message loads the chat models; later ones take milliseconds
        ingestion, chatting = _Traffic(post_events), _Traffic(chat)
        ingestion.start()
        chatting.start()
        time.sleep(1)

        # --- the outage ----------------------------------------------------------------------------------------------
        private_redis.stop()
        down_at = time.monotonic()
        time.sleep(1)
        statuses = []
        reads = [operator_client.get(path) for path in ("/api/v1/runs/", f"/api/v1/runs/{long_id}/", "/api/v1/models/families/")]
        assert [r.status_code for r in reads] == [200, 200, 200]
        asked = time.perf_counter()
        refused = operator_client.post("/api/v1/runs/", {"family": DEMO_FAMILY, "config": {"epochs": 1}}, content_type="application/json")
        refused_ms = (time.perf_counter() - asked) * 1000
        assert refused_ms < 3000
        assert refused.status_code == 503 and int(refused["Retry-After"]) > 0, refused.content
        assert set(refused.json()) == {"detail", "errors"}
        assert TrainingRun.objects.count() == 2  # the refused run left no row behind
        page = operator_client.post("/models/retrain/", {"family": DEMO_FAMILY})
        assert page.status_code == 503 and page["Retry-After"]
        code, checks = _healthz(operator_client)
        assert code == 503 and checks["broker"]["ok"] is False and checks["database"]["ok"] is True
        statuses += [r.status_code for r in reads] + [refused.status_code, page.status_code, code]
        time.sleep(3)
        assert TrainingRun.objects.get(pk=long_id).status == RunStatus.RUNNING  # training goes on without Redis

        # --- Redis is back (empty) -------------------------------------------------------------------------------------
        private_redis.start()
        back_at = time.monotonic()
        during = (ingestion.between(down_at, back_at), chatting.between(down_at, back_at))
        assert len(during[0]) >= 5 and set(during[0]) == {200}, during[0]  # ingestion went on, every batch stored
        assert len(during[1]) >= 3 and set(during[1]) == {201}, during[1]  # and the chat, with the bot's replies
        # The operator stops the long run (no broker needed); the worker then consumes again.
        assert operator_client.post(f"/api/v1/runs/{long_id}/cancel/").status_code in (200, 202)
        wait_for(lambda: TrainingRun.objects.get(pk=long_id).is_finished, timeout=RECOVERY_SECONDS, message="the long run to stop")
        # The run queued behind it lost its message with Redis; the reaper (a beat task every 30 s) sends it again.
        assert TrainingRun.objects.get(pk=behind_id).status == RunStatus.QUEUED
        from apps.mlops import services

        wait_for(
            lambda: behind_id in services.training_runs_redispatch_queued(),
            timeout=RECOVERY_SECONDS,
            interval=0.5,
            message="the reaper to re-send the lost run",
        )
        wait_for(lambda: TrainingRun.objects.get(pk=behind_id).is_finished, timeout=RECOVERY_SECONDS, message=f"the lost run to run\n{worker.log()[-3000:]}")
        wait_for(lambda: _healthz(operator_client)[0] == 200, timeout=RECOVERY_SECONDS, interval=0.5, message="/healthz to be healthy again")
        fresh = operator_client.post("/api/v1/runs/", {"family": DEMO_FAMILY, "config": {"epochs": 2}}, content_type="application/json")
        assert fresh.status_code == 201
        wait_for(lambda: TrainingRun.objects.get(pk=fresh.json()["id"]).is_finished, timeout=RECOVERY_SECONDS, message="a new run after the outage")
        recovered_in = time.monotonic() - back_at
        assert recovered_in < RECOVERY_SECONDS

        # The live chat channel works again: a socket is accepted and carries the bot's reply.
        from platform_.asgi import application
        from tests.apps.chatbot.ws import WebsocketCommunicator

        async def live_reply() -> str:
            socket = WebsocketCommunicator(application, f"/ws/chatbot/widget/?token={chat_token}")
            connected, code = await socket.connect()
            assert connected, code
            await socket.send_json_to({"type": "message", "text": "hello"})
            for _ in range(10):
                event = await socket.receive_json_from(timeout=20)
                if event.get("type") == "message" and event["message"]["sender"] == "bot":
                    await socket.disconnect()
                    return "bot"
            return "none"

        assert async_to_sync(live_reply)() == "bot"
        time.sleep(0.5)
        statuses += ingestion.finish() + chatting.finish()

        # --- a second outage with the worker idle: /healthz stops counting it until it consumes again -------------
        private_redis.stop()
        wait_for(lambda: not WorkerHeartbeat.objects.filter(hostname=worker.hostname).exists(), timeout=10, message="the idle worker to drop its heartbeat")
        code, checks = _healthz(operator_client)
        assert code == 503 and checks["workers"]["ok"] is False
        private_redis.start()
        wait_for(lambda: WorkerHeartbeat.objects.filter(hostname=worker.hostname).exists(), timeout=RECOVERY_SECONDS, message="the worker to consume again")
        last = operator_client.post("/api/v1/runs/", {"family": DEMO_FAMILY, "config": {"epochs": 2}}, content_type="application/json")
        assert last.status_code == 201
        wait_for(
            lambda: TrainingRun.objects.get(pk=last.json()["id"]).is_finished, timeout=RECOVERY_SECONDS, message="a run right after the worker reported back"
        )

    # --- nothing lost, nothing stored twice, nothing left behind ----------------------------------------------------
    assert 500 not in statuses and all(s < 500 or s == 503 for s in statuses), sorted(set(statuses))
    assert set(ingestion.statuses) == {200} and set(chatting.statuses) == {201}, (set(ingestion.statuses), set(chatting.statuses))
    assert len(sent_batches) >= 10 and set(bot_replies) == {"bot"}
    assert Event.objects.count() == events_before + BATCH * len(sent_batches)
    again = [integrator.post("/api/v1/commerce/events/bulk/", {"rows": rows}, content_type="application/json").json() for rows in sent_batches[:5]]
    assert all(a["created"] == 0 and a["duplicates"] == BATCH for a in again)
    assert Event.objects.count() == events_before + BATCH * len(sent_batches)
    assert not TrainingRun.objects.filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).exists()
    assert TrainingRun.objects.get(pk=long_id).status == RunStatus.CANCELLED
    assert TrainingRun.objects.get(pk=behind_id).status == RunStatus.SUCCEEDED
    print(
        f"\nrecovered in {recovered_in:.1f} s; {len(ingestion.statuses)} event batches, {len(chatting.statuses)} chat messages,"
        f" statuses {sorted(set(statuses))}; the refused run answered 503 in {refused_ms:.0f} ms"
    )
