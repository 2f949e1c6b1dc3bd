"""A live ASGI server on the test database, seeded so every API endpoint has something to return.

Used by the contract test (schemathesis). The data is small and made with factories and services, no training.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.request import urlopen

from django.conf import settings
from django.db import connection

from tests.processes import stop_process_group
from tests.workers import ROOT, _test_database_url, purge_broker

# The integrator's token: every product scope, no model-registry scope (the registry is for operators).
INTEGRATOR_SCOPES = [
    f"{product}:{access}" for product in ("commerce", "recommendations", "chatbot", "inspection", "traffic") for access in ("read", "write")
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def contract_seed() -> dict[str, str]:
    """Seed a little of everything; returns the secrets of an operator's and an integrator's API token."""
    from apps.accounts.models import Role
    from apps.accounts.scopes import KNOWN_SCOPES
    from apps.chatbot.demo import seed_demo as seed_chatbot
    from apps.inspection import services as inspection_services
    from apps.inspection.models import ProductionLine
    from apps.mlops import services as mlops_services
    from apps.mlops.demo_family import DEMO_FAMILY
    from apps.mlops.models import Trigger
    from apps.traffic import services as traffic_services
    from apps.traffic.models import Count, Crossing, Direction, Event, EventKind, JobStatus, ProcessingJob, Track, Zone
    from tests.apps.commerce.factories import CustomerFactory, EventFactory, OrderLineFactory, ProductFactory
    from tests.apps.traffic.factories import LineFactory
    from tests.factories import UserFactory, token_for

    products = [ProductFactory(sku=f"SKU-{i}", category="coffee" if i % 2 else "tea") for i in range(1, 6)]
    customer = CustomerFactory(external_id="cust-1")
    OrderLineFactory(order__customer=customer, product=products[0])
    for product in products[:3]:
        EventFactory(customer=customer, product=product)
    seed_chatbot()

    line = ProductionLine.objects.create(name="Line 1")
    inspection_services.station_create(line=line, name="Station 1")

    # A real (small, seconds on a CPU) demo model: versions, runs, promotion and predictions have a subject.
    for family, config in ((DEMO_FAMILY, {"epochs": 5}), ("recommendations.popularity", {})):
        run = mlops_services.training_run_start(family=family, trigger=Trigger.CLI, config=config, dispatch=False)
        mlops_services.training_run_execute(run_id=run.pk, worker="contract-seed")

    counting_line = LineFactory()
    camera = counting_line.camera
    Zone.objects.create(camera=camera, name="zone", polygon=[[0, 0], [10, 0], [10, 10]])
    start = datetime(2026, 1, 1, 8, tzinfo=UTC)
    job = ProcessingJob.objects.create(camera=camera, status=JobStatus.SUCCEEDED, recorded_at=start, progress=100.0)
    Track.objects.create(
        job=job, camera=camera, track_key="t1", label="car", first_frame=0, last_frame=10, first_seen=start,
        last_seen=start + timedelta(seconds=1), path=[[0, 1.0, 2.0]], speed_kmh=42.0, max_speed_kmh=50.0,
    )
    crossing = Crossing.objects.create(job=job, line=counting_line, track_key="t1", label="car", direction=Direction.IN, frame=5, occurred_at=start)
    Crossing.objects.create(job=job, line=counting_line, track_key="t2", label="bus", direction=Direction.OUT, frame=8, occurred_at=start)
    ProcessingJob.objects.filter(pk=job.pk).update(fps=10.0, frame_count=100, checkpoint_frame=100)
    job.refresh_from_db()
    traffic_services.crossing_review_set(crossing=crossing, verdict="corrected", label="truck")
    traffic_services.crossing_review_add(job=job, line=counting_line, direction=Direction.OUT, label="car", frame=50)
    Count.objects.create(line=counting_line, camera=camera, label="car", direction=Direction.IN, bin_minutes=15, bin_start=start, count=1)
    Event.objects.create(camera=camera, job=job, kind=EventKind.values[0], key="e1", frame=5, occurred_at=start)

    operator = UserFactory(role=Role.OPERATOR)
    integrator = UserFactory(role=Role.INTEGRATOR)
    return {"operator": token_for(operator, *KNOWN_SCOPES), "integrator": token_for(integrator, *INTEGRATOR_SCOPES)}


@contextmanager
def uvicorn_server(env: dict[str, str], port: int | None = None, startup_seconds: float = 90) -> Iterator[tuple[str, Path]]:
    """uvicorn serving platform_.asgi against the test database, with ``env`` on top of this process's environment
    (``DJANGO_SETTINGS_MODULE`` among it); yields its base URL and its log file once /healthz answers."""
    port = port or _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "TEST_DATABASE_NAME": connection.settings_dict["NAME"],
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    log_path = Path(settings.VAR_DIR) / f"uvicorn-{port}.log"
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [uvicorn, "platform_.asgi:application", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                with urlopen(url + "/healthz?checks=database", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield url, log_path
    finally:
        stop_process_group(process)


@contextmanager
def live_asgi_server(env: dict[str, str] | None = None) -> Iterator[str]:
    """uvicorn serving platform_.asgi against the test database; yields its base URL. ``env`` overrides variables."""
    purge_broker()  # tasks the API dispatches stay in the (test) broker: no worker runs them here
    try:
        server_env = {
            "DJANGO_SETTINGS_MODULE": "tests.platform_.live_settings",
            "CHATBOT_SESSIONS_PER_MINUTE": "100000",
            "CHATBOT_MESSAGES_PER_MINUTE": "100000",
            "CHATBOT_WARM_UP": "0",
            **(env or {}),
        }
        with uvicorn_server(server_env) as (url, _log):
            yield url
    finally:
        purge_broker()
