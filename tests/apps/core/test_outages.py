"""Degrade, don't fail: the cache, the API, the dashboard, the reapers and the chat socket while a Redis of the
test's own (cache, broker and channel layer) is stopped. Real redis-server, real Celery publishing, no mocks."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
import redis
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from apps.chatbot import services as chat
from apps.core import outages
from apps.mlops import services
from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import RunStatus, TrainingRun
from apps.traffic import services as traffic
from apps.traffic.models import JobStatus, ProcessingJob
from tests.apps.chatbot.helpers import demo_site
from tests.apps.traffic.factories import CameraFactory
from tests.factories import UserFactory, token_for
from tests.workers import redis_everything

pytestmark = [pytest.mark.services]


@pytest.fixture(autouse=True)
def _no_outage_left():
    outages._down_since.clear()
    yield
    outages._down_since.clear()


@pytest.fixture
def private(settings, private_redis):
    settings.CACHE_OUTAGE_RETRY_SECONDS = 0.5
    with redis_everything(settings, private_redis.url):
        yield private_redis


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def outage_log():
    """What apps.core.outages logs during the test (its own handler: the chat engine's libraries reset pytest's)."""
    handler = _Records()
    logger = logging.getLogger("apps.core.outages")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _unreachable(messages: list[str]) -> list[str]:
    return [m for m in messages if "unreachable" in m]


# --- the cache -------------------------------------------------------------------------------------------------


def test_cache_answers_from_process_memory_while_redis_is_down_warns_once_and_goes_back(private, outage_log):
    cache.set("before", 1)
    assert cache.get("before") == 1
    private.stop()

    started = time.perf_counter()
    assert cache.add("counter", 0, timeout=60)
    for _ in range(200):
        cache.incr("counter")
    assert cache.get("counter") == 200
    assert cache.get("before") is None  # Redis's keys are out of reach, not an error
    elapsed = time.perf_counter() - started
    # 200 calls: the first one finds Redis gone, the rest go straight to memory until the retry time.
    assert elapsed < 1.0, f"{elapsed:.2f} s for 200 cache calls during the outage"
    time.sleep(0.6)
    cache.get("counter")  # retry time passed: asks Redis again, still down, no second warning
    assert len(_unreachable(outage_log)) == 1, outage_log

    private.start()
    time.sleep(0.6)
    cache.set("after", 2)
    stored = redis.Redis.from_url(private.url).exists(cache.make_key("after"))
    assert stored == 1, "the cache went back to Redis once it answered again"
    assert any("reachable again" in m for m in outage_log), outage_log


def test_rate_limit_counter_is_one_redis_counter_then_counts_in_memory_during_an_outage(private):
    assert [cache.count("hits", 60) for _ in range(3)] == [1, 2, 3]
    client = redis.Redis.from_url(private.url)
    assert int(client.get(cache.make_key("hits"))) == 3
    assert 0 < client.ttl(cache.make_key("hits")) <= 60  # created with the window, not renewed by INCR
    private.stop()
    started = time.perf_counter()
    assert [cache.count("hits", 60) for _ in range(100)] == list(range(1, 101))  # a fresh, local window
    assert time.perf_counter() - started < 1.0
    private.start()
    time.sleep(0.6)
    assert cache.count("hits", 60) == 1  # back on Redis (restarted empty: a new window)
    assert int(redis.Redis.from_url(private.url).get(cache.make_key("hits"))) == 1


@pytest.mark.django_db
def test_reads_throttles_chat_limits_and_login_throttle_keep_working_while_the_cache_is_down(private, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1000/min", "user": "1000/min"}}
    settings.CHATBOT_MESSAGES_PER_MINUTE = 3
    settings.CHATBOT_SESSIONS_PER_MINUTE = 100
    settings.LOGIN_FAILURES_PER_USERNAME = 2
    site = demo_site()
    api = Client(headers={"Authorization": f"Token {token_for(UserFactory(role='integrator'), 'commerce:read')}"})
    private.stop()

    assert api.get("/api/v1/commerce/products/").status_code == 200  # throttled API read: 200, not 500
    widget = Client()
    session = widget.post("/api/v1/chatbot/widget/sessions/", {"site_key": site.site_key}, content_type="application/json")
    assert session.status_code == 201, session.content
    headers = {"HTTP_X_CHAT_TOKEN": session.json()["token"]}
    sent = [widget.post("/api/v1/chatbot/widget/messages/", {"text": f"hello {i}"}, content_type="application/json", **headers) for i in range(4)]
    # The chat limit still holds, counted in this process: three messages, then 429 with Retry-After.
    assert [r.status_code for r in sent] == [201, 201, 201, 429]
    assert int(sent[-1]["Retry-After"]) >= 1
    assert sent[0].json()["messages"][-1]["sender"] == "bot"

    user = UserFactory(role="operator")
    codes = [Client(REMOTE_ADDR="203.0.113.9").post("/login/", {"username": user.username, "password": "wrong"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # the login throttle fails closed on this process's own counters


# --- writes that need the broker ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_starting_a_run_while_the_broker_is_down_answers_503_and_leaves_no_queued_row(private, operator_client):
    private.stop()
    started = time.perf_counter()
    response = operator_client.post("/api/v1/runs/", {"family": DEMO_FAMILY, "config": {"epochs": 1}}, content_type="application/json")
    elapsed = time.perf_counter() - started
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert set(body) == {"detail", "errors"} and "retry" in body["detail"].lower() and body["errors"] == {}
    assert not TrainingRun.objects.exists()
    assert elapsed < 5, f"the 503 took {elapsed:.1f} s"

    # The dashboard's Retrain button: a 503 page, not a 500, and no row either.
    page = operator_client.post("/models/retrain/", {"family": DEMO_FAMILY})
    assert page.status_code == 503 and int(page["Retry-After"]) > 0
    assert b"Briefly unavailable" in page.content
    assert not TrainingRun.objects.exists()

    private.start()
    response = operator_client.post("/api/v1/runs/", {"family": DEMO_FAMILY, "config": {"epochs": 1}}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert redis.Redis.from_url(private.url).llen("ml_gpu") == 1  # its message is in the queue


@pytest.mark.django_db(transaction=True)
def test_a_stream_start_is_undone_but_an_uploaded_video_is_kept_for_the_reaper(private):
    camera = CameraFactory()
    private.stop()
    with pytest.raises(outages.ServiceUnavailable):
        traffic.job_create_stream(camera=camera, url="rtsp://127.0.0.1:8554/cam")
    assert not ProcessingJob.objects.exists()
    # A job whose data is stored (a video, a resumed job) stays queued: the reaper sends it once the broker is back.
    job = ProcessingJob.objects.create(camera=camera, kind="video", recorded_at=timezone.now(), fps=25)
    assert traffic.job_dispatch(job_id=job.pk) is False
    assert ProcessingJob.objects.get(pk=job.pk).status == JobStatus.QUEUED


# --- reapers ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_reaper_redispatches_queued_runs_whose_message_was_lost_once_per_period(private, settings):
    settings.REDISPATCH_QUEUED_AFTER_SECONDS = 300
    broker = redis.Redis.from_url(private.url)
    lost = services.training_run_start(family=DEMO_FAMILY, trigger="api", config={"epochs": 1}, dispatch=False)
    fresh = services.training_run_start(family=DEMO_FAMILY, trigger="api", config={"epochs": 1}, dispatch=False)
    TrainingRun.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - timedelta(minutes=10))

    private.stop()
    assert services.training_runs_redispatch_queued() == []  # broker down: nothing sent, tried again next beat
    assert TrainingRun.objects.get(pk=lost.pk).status == RunStatus.QUEUED
    private.start()

    assert services.training_runs_redispatch_queued() == [lost.pk]
    assert broker.llen("ml_gpu") == 1
    # The beat runs every 30 s: the same run is not sent again within the period (one message, not one a beat).
    assert services.training_runs_redispatch_queued() == []
    assert broker.llen("ml_gpu") == 1
    assert TrainingRun.objects.get(pk=fresh.pk).status == RunStatus.QUEUED  # young runs are left to their message


@pytest.mark.django_db(transaction=True)
def test_reaper_redispatches_traffic_jobs_still_queued(private, settings):
    settings.REDISPATCH_QUEUED_AFTER_SECONDS = 300
    camera = CameraFactory()
    lost = ProcessingJob.objects.create(camera=camera, kind="video", recorded_at=timezone.now(), fps=25)
    ProcessingJob.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    ProcessingJob.objects.create(camera=CameraFactory(), kind="video", recorded_at=timezone.now(), fps=25)  # young: left alone
    assert traffic.jobs_redispatch_queued() == [lost.pk]
    assert traffic.jobs_redispatch_queued() == []
    assert redis.Redis.from_url(private.url).llen("ml_gpu") == 1


@pytest.mark.django_db(transaction=True)
def test_scheduled_retraining_is_not_blocked_for_good_by_a_run_that_lost_its_message(private, settings):
    from apps.mlops.models import FamilySettings

    FamilySettings.objects.create(family=DEMO_FAMILY, retrain_every_minutes=1, default_config={"epochs": 1, "n_samples": 50})
    stuck = services.training_run_start(family=DEMO_FAMILY, trigger="schedule", dispatch=False)
    TrainingRun.objects.filter(pk=stuck.pk).update(queued_at=timezone.now() - timedelta(hours=1))
    assert services.scheduled_retraining_start_due() == []  # waits while a run is queued...
    assert services.training_runs_redispatch_queued() == [stuck.pk]  # ...which the reaper sends again
    # The worker takes the message (here: the task body, as the worker runs it) and the schedule moves on.
    services.training_run_execute(run_id=stuck.pk, worker="test")
    assert TrainingRun.objects.get(pk=stuck.pk).status == RunStatus.SUCCEEDED
    # A second delivery of the same message (the reaper's and the lost one) does nothing.
    assert services.training_run_execute(run_id=stuck.pk, worker="test") is None or TrainingRun.objects.get(pk=stuck.pk).attempts == 1
    assert len(services.scheduled_retraining_start_due(now=timezone.now() + timedelta(minutes=2))) == 1


# --- chat ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_chat_over_http_works_and_the_socket_closes_with_1013_while_the_channel_layer_is_down(private, outage_log):
    from platform_.asgi import application
    from tests.apps.chatbot.ws import WebsocketCommunicator

    site = demo_site()
    conversation = chat.session_start(site_key=site.site_key)
    token = chat.session_token(conversation=conversation)
    private.stop()

    widget = Client()
    for text in ("hello", "where is my order"):
        response = widget.post("/api/v1/chatbot/widget/messages/", {"text": text}, content_type="application/json", HTTP_X_CHAT_TOKEN=token)
        assert response.status_code == 201 and response.json()["messages"][-1]["sender"] == "bot"
    # Events were skipped with one warning for the outage, not a traceback per event.
    assert len([m for m in _unreachable(outage_log) if "channel layer" in m]) == 1, outage_log

    async def connect() -> tuple[bool, object]:
        communicator = WebsocketCommunicator(application, f"/ws/chatbot/widget/?token={token}")
        await communicator.send_input({"type": "websocket.connect"})
        first = await communicator.receive_output(10)
        second = await communicator.receive_output(10) if first["type"] == "websocket.accept" else first
        await communicator.send_input({"type": "websocket.disconnect", "code": 1013})
        await communicator.wait(5)
        return first["type"], second.get("code")

    assert async_to_sync(connect)() == ("websocket.accept", 1013)
