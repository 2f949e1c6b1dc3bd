"""PostgreSQL fault drills: the platform's connections are dropped (pg_terminate_backend) or the database goes away.

Only backends of this test database tagged with the process's own ``application_name`` are terminated, never the
test process's own connection nor anyone else's. Each drill asserts: no 500, 503 with Retry-After while the database
is away, /healthz truthful, recovery within 30 s without a restart, no run left queued or running, and a training run
that either succeeds or fails with its real cause (not "Worker lost").
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from apps.mlops import services
from apps.mlops.models import RunStatus, TrainingRun, WorkerHeartbeat
from tests.db_faults import PgProxy, require_postgresql, tagged_database_url, terminate_backends
from tests.platform_.live_api import live_asgi_server
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_broker")]

RECOVERY_SECONDS = 30


def _tag(what: str) -> str:
    return f"drill-{what}-{uuid.uuid4().hex[:8]}"


def _nothing_left_in_flight() -> None:
    assert not TrainingRun.objects.filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).exists()


def _heartbeat_at(run: TrainingRun):  # noqa: ANN202
    return TrainingRun.objects.values_list("heartbeat_at", flat=True).get(pk=run.pk)


# --- training on a real worker ----------------------------------------------------------------------------


def test_training_survives_its_connections_being_terminated(tmp_path):
    from tests.testapp.families import GATED_FAMILY

    require_postgresql()
    tag = _tag("worker")
    gate = tmp_path / "gate"
    with celery_worker(env={"DATABASE_URL": tagged_database_url(tag)}) as worker:
        run = services.training_run_start(family=GATED_FAMILY, trigger="api", config={"gate": str(gate), "epochs": 3, "n_samples": 300})
        wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, stage="waiting for the gate").exists(), 60, message="the run to wait at its gate")
        time.sleep(1.5)  # the run's heartbeat thread has written on its connection

        # The task thread, the run's heartbeat thread, the worker's heartbeat and the pool's idle connections all die.
        assert terminate_backends(tag) >= 2
        dropped_at = timezone.now()
        time.sleep(2.5)
        assert terminate_backends(tag) >= 1  # and the heartbeat's new connection dies too

        # While training waits at the gate nothing else writes heartbeat_at: it moving on shows the heartbeat thread
        # kept running and reconnected.
        wait_for(lambda: _heartbeat_at(run) > dropped_at + timedelta(seconds=3), RECOVERY_SECONDS, message="a heartbeat after the drop")
        before = _heartbeat_at(run)
        wait_for(lambda: _heartbeat_at(run) > before, 5, message="heartbeats going on")
        wait_for(
            lambda: WorkerHeartbeat.objects.filter(hostname=worker.hostname, last_seen_at__gt=dropped_at).exists(),
            RECOVERY_SECONDS,
            message="the worker's own heartbeat after the drop",
        )
        health = Client().get("/healthz")  # database, broker and this worker, as a load balancer sees them
        assert health.status_code == 200, health.json()

        gate.touch()  # the task thread's next write (progress) meets its dead connection
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished, 60, message="the run to finish")
        log = worker.log()

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.error == ""
    assert run.model_version is not None
    assert run.attempts == 1  # not retried as a new attempt: the same task carried on
    assert f"heartbeat of run {run.pk}: database connection lost" in log
    assert f"progress of run {run.pk}: database connection lost" in log
    _nothing_left_in_flight()


def test_a_real_failure_after_a_dropped_connection_is_recorded_with_its_cause(tmp_path):
    from tests.testapp.families import GATED_FAILURE_MESSAGE, GATED_FAMILY

    require_postgresql()
    tag = _tag("worker")
    gate = tmp_path / "gate"
    with celery_worker(env={"DATABASE_URL": tagged_database_url(tag)}) as worker:
        run = services.training_run_start(family=GATED_FAMILY, trigger="api", config={"gate": str(gate), "fail": True})
        wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, stage="waiting for the gate").exists(), 60, message="the run to wait at its gate")
        assert terminate_backends(tag) >= 1
        gate.touch()  # the trainer raises at once: the failure path is the first to use the dead connection
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished, RECOVERY_SECONDS, message="the run to be marked failed")
        log = worker.log()

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert GATED_FAILURE_MESSAGE in run.error
    assert "Worker lost" not in run.error
    assert f"failure of run {run.pk}: database connection lost" in log
    _nothing_left_in_flight()


# --- web requests under uvicorn ---------------------------------------------------------------------------


def _operator_token() -> str:
    from apps.accounts.scopes import KNOWN_SCOPES
    from tests.factories import UserFactory, token_for

    return token_for(UserFactory(role="operator"), *KNOWN_SCOPES)


def _assert_no_500(responses: list[httpx.Response]) -> Counter:
    statuses = Counter(r.status_code for r in responses)
    for r in responses:
        assert r.status_code < 500 or r.status_code == 503, f"{r.request.url}: {r.status_code} {r.text[:300]} ({statuses})"
        if r.status_code == 503:
            assert int(r.headers["Retry-After"]) > 0
            if r.request.url.path.startswith("/api/"):
                assert set(r.json()) == {"detail", "errors"}
    return statuses


def _recovers(client: httpx.Client, path: str) -> float:
    """Seconds until ``path`` answers 200 (at most RECOVERY_SECONDS)."""
    started = time.monotonic()
    wait_for(lambda: client.get(path).status_code == 200, RECOVERY_SECONDS, interval=0.5, message=f"{path} to answer 200 again")
    return time.monotonic() - started


def test_requests_while_the_web_process_connections_are_terminated():
    require_postgresql()
    tag = _tag("web")
    token = _operator_token()
    env = {"DATABASE_URL": tagged_database_url(tag), "DATABASE_POOL_MAX_SIZE": "4", "DATABASE_POOL_TIMEOUT": "5"}
    responses: list[httpx.Response] = []
    stop = threading.Event()
    with live_asgi_server(env) as url:

        def load() -> None:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
                while not stop.is_set():
                    for path in ("/api/v1/runs/", "/api/v1/models/", "/healthz?checks=database"):
                        responses.append(client.get(path))

        loaders = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for t in loaders:
            t.start()
        killed = []
        for _ in range(4):
            time.sleep(1.0)
            killed.append(terminate_backends(tag))
        time.sleep(1.0)
        stop.set()
        for t in loaders:
            t.join(timeout=30)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            _recovers(client, "/api/v1/runs/")
            health = client.get("/healthz?checks=database")

    assert sum(killed) >= 4, f"the drill terminated {killed} backends"
    statuses = _assert_no_500(responses)
    assert statuses[200] > len(responses) / 2, statuses
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_database_away_answers_503_and_healthz_says_so_then_recovers():
    require_postgresql()
    token = _operator_token()
    from tests.factories import UserFactory

    browser = Client()
    browser.force_login(UserFactory(role="operator"))
    session = browser.cookies["sessionid"].value
    proxy = PgProxy()
    env = {"DATABASE_URL": tagged_database_url(_tag("web"), port=proxy.port), "DATABASE_POOL_MAX_SIZE": "4", "DATABASE_POOL_TIMEOUT": "1"}
    try:
        with live_asgi_server(env) as url, httpx.Client(base_url=url, timeout=20, cookies={"sessionid": session}) as client:
            api = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/runs/", headers=api).status_code == 200
            page = {"Accept": "text/html,application/xhtml+xml"}  # a browser navigating
            assert client.get("/runs/", headers=page).status_code == 200

            proxy.cut()
            away = [client.get("/api/v1/runs/", headers=api), client.get("/runs/", headers=page), client.get("/runs/live/")]
            health = client.get("/healthz?checks=database")
            _assert_no_500(away)
            assert [r.status_code for r in away] == [503, 503, 503]
            assert "text/html" in away[1].headers["Content-Type"]
            assert set(away[2].json()) == {"detail", "errors"}  # the page's script gets JSON
            assert health.status_code == 503
            assert health.json()["checks"]["database"]["ok"] is False

            proxy.restore()
            seconds = _recovers(client, "/healthz?checks=database")
            assert client.get("/api/v1/runs/", headers=api).status_code == 200
            assert client.get("/runs/", headers=page).status_code == 200
    finally:
        proxy.close()
    assert seconds < RECOVERY_SECONDS


def test_a_claim_retried_after_its_commit_was_lost_is_recognised_as_its_own():
    # The connection can drop after PostgreSQL applied the claim's COMMIT but before the worker heard: the retry must
    # carry on with the run, not take its own claim for a duplicate delivery (which would leave the run "running").
    from apps.mlops.demo_family import DEMO_FAMILY
    from apps.mlops.services import _claim_run

    run = services.training_run_start(family=DEMO_FAMILY, trigger="api", dispatch=False)
    claimed_at = timezone.now()
    first = _claim_run(run.pk, "worker-1@host", claimed_at)
    retried = _claim_run(run.pk, "worker-1@host", claimed_at)
    duplicate = _claim_run(run.pk, "worker-1@host")

    assert first is not None and first.status == RunStatus.RUNNING
    assert retried is not None and retried.pk == run.pk and retried.attempts == 1
    assert duplicate is None
