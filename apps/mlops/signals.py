"""Worker liveness: every Celery worker writes a heartbeat row, read by /healthz and the dashboard."""

from __future__ import annotations

import logging
import os
import threading

from celery.bootsteps import RUN
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.mlops import services

logger = logging.getLogger(__name__)
_stop = threading.Event()


def consuming(consumer) -> bool:  # noqa: ANN001
    """Is the worker's consumer connected and past its last start-up step (the event loop that takes tasks)?

    Celery's consumer drops its connection (``connection = None``) on a broker error and starts its steps again
    once it reconnects; the last step is the loop that consumes. A task running in the solo pool keeps the
    consumer's state as it was, so a long training run still counts as consuming."""
    blueprint = getattr(consumer, "blueprint", None)
    steps = [s for s in getattr(consumer, "steps", []) if s is not None]
    if blueprint is None or not steps:
        return True  # not a consumer we know how to inspect: do not hide the worker
    return consumer.connection is not None and blueprint.state == RUN and blueprint.started >= len(steps)


@worker_ready.connect
def _start_heartbeat(sender, **kwargs) -> None:  # noqa: ANN001
    hostname = sender.hostname
    queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values())
    started_at = timezone.now()

    def beat() -> None:
        listed = True
        while True:
            try:
                # Only while the consumer is connected to the broker: when it loses the broker the row is removed
                # (/healthz: no worker) and comes back once the worker has reconnected and consumes again.
                if consuming(sender):
                    services.worker_heartbeat_record(hostname=hostname, queues=queues, pid=os.getpid(), started_at=started_at)
                    listed = True
                elif listed:
                    logger.warning("worker %s lost the broker; not reporting as alive until it consumes again", hostname)
                    services.worker_heartbeat_remove(hostname=hostname)
                    listed = False
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
