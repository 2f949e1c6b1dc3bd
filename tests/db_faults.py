"""PostgreSQL fault drills for the tests: break the test database's connections without touching the shared server.

- :func:`terminate_backends` runs ``pg_terminate_backend`` on the backends of *this test database* opened by one
  process (matched by ``application_name``), never on anyone else's, nor on the test process's own connection.
- :class:`PgProxy` is a TCP relay in front of PostgreSQL: a server started through it loses its database when the
  relay is cut (existing connections reset, new ones refused) and gets it back when it is restored.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlencode

import psycopg
from django.db import connection


def _admin_conninfo() -> dict:
    db = connection.settings_dict
    return {"host": db["HOST"] or "127.0.0.1", "port": int(db["PORT"] or 5432), "user": db["USER"], "password": db["PASSWORD"] or None, "dbname": "postgres"}


def tagged_database_url(application_name: str, *, port: int | None = None) -> str:
    """The test database's URL for a server or worker process, tagged with ``application_name``."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{port or db['PORT'] or 5432}/{db['NAME']}?{urlencode({'application_name': application_name})}"


def _admin_query(sql: str, application_name: str) -> list[tuple]:
    with psycopg.connect(**_admin_conninfo(), autocommit=True, connect_timeout=5) as admin:
        return admin.execute(sql, (connection.settings_dict["NAME"], application_name)).fetchall()


def terminate_backends(application_name: str) -> int:
    """pg_terminate_backend every backend of the test database tagged ``application_name``; returns how many."""
    rows = _admin_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()",
        application_name,
    )
    return sum(1 for (ok,) in rows if ok)


def count_backends(application_name: str) -> int:
    """Connections to the test database tagged ``application_name`` (what one server process holds)."""
    return _admin_query("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s", application_name)[0][0]


class PgProxy:
    """A TCP relay to PostgreSQL on 127.0.0.1 with an off switch (``cut``) and an on switch (``restore``)."""

    def __init__(self) -> None:
        db = connection.settings_dict
        self.upstream = (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._up = True
        self._closed = False
        threading.Thread(target=self._accept, name="pg-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._up:
                    client.close()  # the database is "down": the connection is refused at once
                    continue
                try:
                    server = socket.create_connection(self.upstream, timeout=5)
                except OSError:
                    client.close()
                    continue
                server.settimeout(None)
                self._sockets.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._drop(s)

    def _drop(self, s: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self) -> None:
        """Reset every relayed connection and refuse new ones until :meth:`restore`."""
        with self._lock:
            self._up = False
            sockets = list(self._sockets)
        for s in sockets:
            self._drop(s)

    def restore(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()


def require_postgresql() -> None:
    """Skip on the SQLite fallback (a developer machine without PostgreSQL); CI requires PostgreSQL anyway."""
    import pytest

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (these drills break PostgreSQL connections)")
