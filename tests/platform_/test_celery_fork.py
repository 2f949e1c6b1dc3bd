"""A prefork worker child never uses, nor closes, the database pool it inherited from the parent.

The parent of a prefork worker keeps a pooled connection (its worker-heartbeat thread). A child forked later inherits
the pool: using it would send queries on the parent's sockets, and Celery's Django fixup closing it (celery#9953)
would terminate the parent's backends. Here the test process plays the parent and forks a real child (our at-fork
hook in platform_/celery.py runs there first, as in a worker), which then runs the fixup's ``worker_process_init``.
"""

from __future__ import annotations

import os
import time
import uuid
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection

from tests.db_faults import _admin_conninfo, require_postgresql

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_broker")]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _backend_alive(pid: int) -> bool:
    with psycopg.connect(**_admin_conninfo(), autocommit=True) as admin:
        return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == 1


def test_a_forked_worker_child_opens_its_own_connections_and_leaves_the_parents_alone():
    from celery.fixups.django import DjangoWorkerFixup
    from celery.signals import worker_process_init

    from platform_.celery import app as celery_app

    require_postgresql()
    assert connection.pool is not None, "the test settings use the pool, as production does"
    parent_backend = _backend_pid()
    connection.close()  # back to the pool, idle: what a prefork parent holds between worker heartbeats

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child, which always leaves through os._exit
        code = 1
        try:
            os.close(read_end)
            fixup = DjangoWorkerFixup(celery_app)
            fixup.worker = SimpleNamespace(pool_cls="prefork")
            worker_process_init.connect(fixup.on_worker_process_init, weak=False)
            worker_process_init.send(sender=None)
            child_backend = _backend_pid()
            # At its end a task's connection is closed, and in prefork the fixup closes the pool too.
            fixup.on_task_postrun(SimpleNamespace(request=SimpleNamespace(is_eager=False)))
            os.write(write_end, str(child_backend).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(child, 0)
    child_backend = int(os.read(read_end, 64) or 0)
    os.close(read_end)

    assert os.waitstatus_to_exitcode(status) == 0
    assert child_backend and child_backend != parent_backend, "the child queried on a connection of its own"
    assert _backend_alive(parent_backend), "the child terminated the parent's pooled connection"
    assert _backend_pid() > 0  # and the parent carries on with its pool


def test_a_prefork_worker_replacing_its_children_stays_within_its_connection_budget():
    from apps.mlops.tasks import reap_stale_runs
    from tests.db_faults import count_backends, tagged_database_url
    from tests.platform_.test_database_pool import peak_backends
    from tests.workers import celery_worker

    require_postgresql()
    tag = f"prefork-{uuid.uuid4().hex[:8]}"
    concurrency, pool_max = 2, 2
    env = {"DATABASE_URL": tagged_database_url(tag), "DATABASE_POOL_MAX_SIZE": str(pool_max)}
    # One task per child: every task forks a new child while the parent holds its pooled connection (worker heartbeat).
    pool_args = ("--pool=prefork", f"--concurrency={concurrency}", "--max-tasks-per-child=1")
    with celery_worker(queues="default", env=env, pool_args=pool_args) as worker, peak_backends(tag) as seen:
        for _ in range(6):
            reap_stale_runs.apply_async(ignore_result=False).get(timeout=60)
        parent_backends = count_backends(tag)
        time.sleep(2)  # worker heartbeats after the last fork
        log = worker.log()

    assert 1 <= seen["peak"] <= (1 + concurrency) * pool_max, f"{seen['peak']} connections"
    assert parent_backends >= 1
    assert "worker heartbeat failed" not in log
    assert "Traceback" not in log, log[-3000:]
