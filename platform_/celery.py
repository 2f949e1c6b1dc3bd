"""The Celery application. Configuration lives in Django settings under the ``CELERY_`` namespace."""

from celery import Celery
from celery.signals import worker_process_init

from platform_.environment import use_settings_module

use_settings_module()

app = Celery("downstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Connections a forked prefork child inherited from the parent. Kept referenced, never closed: closing one (or letting
# it be garbage-collected) sends PostgreSQL a Terminate message on the socket the parent still uses.
_inherited_connections: list = []


@worker_process_init.connect
def _forget_inherited_database_pool(**kwargs) -> None:  # noqa: ANN003
    """A prefork child starts with no database pool: it opens its own instead of sharing the parent's sockets.

    psycopg's pool is per process (``DatabaseWrapper._connection_pools``) and has background threads that a fork does
    not copy. A child using the inherited one would send queries on the parent's connections, and when the pool is
    empty wait for threads that do not exist (PoolTimeout). Celery's Django fixup closes the inherited pool in the child
    (celery#9953), but ``pool.close()`` closes each idle connection, which terminates the parent's backends too (the
    parent keeps one for its worker-heartbeat thread). This receiver is connected before the fixup's, so the fixup
    finds no pool left to close. Children exit with ``os._exit``: nothing kept here is ever finalised.
    """
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited_connections.append(conn.connection)
            conn.connection = None
    pools = getattr(type(connections["default"]), "_connection_pools", None)
    if pools:
        _inherited_connections.extend(pools.values())
        pools.clear()
