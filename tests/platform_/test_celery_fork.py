"""A prefork worker child never uses, nor closes, the database pool it inherited from the parent.

The parent of a prefork worker keeps a pooled connection (its worker-heartbeat thread). A child forked later inherits
the pool: using it would send queries on the parent's sockets, and Celery's Django fixup closing it (celery#9953)
would terminate the parent's backends. Here the test process plays the parent and forks a real child that runs the
``worker_process_init`` receivers in the worker's order (ours, then the fixup's).
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection

from tests.db_faults import _admin_conninfo, require_postgresql

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


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
