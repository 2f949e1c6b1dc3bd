"""The Celery application. Configuration lives in Django settings under the ``CELERY_`` namespace."""

import os
import sys

from celery import Celery, signals

from platform_.environment import use_settings_module

use_settings_module()

app = Celery("downstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Connections a forked child inherited from its parent. Kept referenced, never closed: closing one (or letting it be
# garbage-collected) sends PostgreSQL a Terminate message on the socket the parent still uses. Forked children of
# Celery's prefork pool (billiard) and of multiprocessing leave through os._exit, so nothing kept here is finalised.
_inherited_connections: list = []


def _forget_inherited_database_pool() -> None:
    """In a forked child: no database connection or pool of the parent's; the child opens its own when it needs one.

    psycopg's pool is per process (``DatabaseWrapper._connection_pools``) and has background threads that a fork does
    not copy. A child using the inherited pool would send queries on the parent's connections, and when the pool is
    empty wait for threads that do not exist (PoolTimeout). Celery's Django fixup closes the inherited pool in a
    prefork child at ``worker_process_init`` (celery#9953), but ``pool.close()`` closes each idle connection, which
    terminates the parent's backends too (a prefork parent keeps one for its worker-heartbeat thread). This runs right
    after the fork, before any signal, so the fixup finds no pool of the parent's left to close.
    """
    from django.conf import settings

    if not settings.configured:
        return
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited_connections.append(conn.connection)
            conn.connection = None
    postgresql = sys.modules.get("django.db.backends.postgresql.base")
    if postgresql is not None and postgresql.DatabaseWrapper._connection_pools:
        _inherited_connections.extend(postgresql.DatabaseWrapper._connection_pools.values())
        postgresql.DatabaseWrapper._connection_pools.clear()


os.register_at_fork(after_in_child=_forget_inherited_database_pool)


@signals.worker_init.connect
def _worker_memory(**_kwargs) -> None:  # noqa: ANN003
    """Every worker (and the children a prefork worker forks, which inherit it) keeps the memory it frees."""
    from django.conf import settings

    from ml.device import keep_freed_memory

    if settings.ML_KEEP_FREED_MEMORY:
        keep_freed_memory()
