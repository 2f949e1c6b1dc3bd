"""retry_on_lost_connection: reconnects after a real dropped connection, never inside a transaction, never for other errors.

These tests terminate the test process's own backend on purpose (by its pid, on the test database only).
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction

from apps.core.database import discard_connection, is_connection_error, retry_on_lost_connection
from tests.db_faults import _admin_conninfo, require_postgresql

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    with psycopg.connect(**_admin_conninfo(), autocommit=True) as admin:
        ok = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %s AND datname = %s", (pid, connection.settings_dict["NAME"])
        ).fetchone()
    assert ok == (True,)


def test_a_terminated_connection_is_replaced_and_the_call_repeated():
    require_postgresql()
    old = _backend_pid()
    _terminate(old)
    calls = []

    def query() -> int:
        calls.append(1)
        return _backend_pid()

    new = retry_on_lost_connection(query, attempts=3, delay=0.01)
    assert new != old
    assert len(calls) == 2


def test_no_retry_inside_a_transaction():
    require_postgresql()
    calls = []

    def query() -> int:
        calls.append(1)
        return _backend_pid()

    with pytest.raises(OperationalError) as raised, transaction.atomic():
        _terminate(_backend_pid())
        retry_on_lost_connection(query, attempts=3, delay=0.01)
    assert is_connection_error(raised.value)
    assert len(calls) == 1
    discard_connection()
    assert _backend_pid() > 0  # the next query has a fresh connection


def test_errors_that_are_not_about_the_connection_are_not_retried():
    require_postgresql()
    calls = []

    def slow_query() -> None:
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 10")
            try:
                cursor.execute("SELECT pg_sleep(1)")
            finally:
                cursor.execute("RESET statement_timeout")

    with pytest.raises(OperationalError) as raised:
        retry_on_lost_connection(slow_query, attempts=3, delay=0.01)
    assert not is_connection_error(raised.value)  # a statement timeout (57014): the connection is fine
    assert len(calls) == 1
    assert not is_connection_error(IntegrityError("duplicate key"))
