"""Worker liveness: every Celery worker writes a heartbeat row, read by /healthz and the dashboard."""

from __future__ import annotations

import logging
import os
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.mlops import services

logger = logging.getLogger(__name__)
_stop = threading.Event()


@worker_ready.connect
def _start_heartbeat(sender, **kwargs) -> None:  # noqa: ANN001
    hostname = sender.hostname
    queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values())
    started_at = timezone.now()

    def beat() -> None:
        while True:
            try:
                services.worker_heartbeat_record(hostname=hostname, queues=queues, pid=os.getpid(), started_at=started_at)
            except Exception:  # noqa: BLE001 - the database may be briefly away; try again next beat
                logger.warning("worker heartbeat failed", exc_info=True)
            if _stop.wait(settings.MLOPS_HEARTBEAT_SECONDS):
                break
        connection.close()

    threading.Thread(target=beat, name="worker-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_heartbeat(sender, **kwargs) -> None:  # noqa: ANN001
    _stop.set()
    try:
        services.worker_heartbeat_remove(hostname=sender.hostname)
    except Exception:  # noqa: BLE001
        logger.warning("could not remove worker heartbeat", exc_info=True)
