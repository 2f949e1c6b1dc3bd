import pytest
from django.test import Client

from tests.factories import UserFactory
from tests.workers import celery_worker, purge_broker


@pytest.mark.django_db
def test_healthz_is_503_without_a_worker_and_names_the_problem(operator_client):
    body = operator_client.get("/healthz")
    assert body.status_code == 503
    checks = body.json()["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]
    assert not checks["workers"]["ok"] and "no Celery worker" in checks["workers"]["error"]


@pytest.mark.django_db
def test_anonymous_healthz_keeps_the_status_code_but_shows_no_details(settings):
    settings.CELERY_BROKER_URL = "redis://broker.internal.example:1/0"  # unreachable: its error would name the host
    anonymous = Client().get("/healthz")
    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "unhealthy", "checks": {"database": {"ok": True}, "broker": {"ok": False}, "workers": {"ok": False}}}
    assert Client().get("/healthz?checks=database").status_code == 200
    # A customer account is not an operator either.
    customer = Client()
    customer.force_login(UserFactory(role="customer"))
    assert customer.get("/healthz").json()["checks"]["broker"] == {"ok": False}


@pytest.mark.django_db
def test_healthz_can_be_limited_to_some_checks():
    response = Client().get("/healthz?checks=database")
    assert response.status_code == 200 and list(response.json()["checks"]) == ["database"]
    bad = Client().get("/healthz?checks=database,disk")
    assert bad.status_code == 400 and "disk" in bad.json()["detail"]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_healthz_reports_database_broker_and_live_workers(operator_client):
    purge_broker()
    with celery_worker() as worker:
        response = operator_client.get("/healthz")
    assert response.status_code == 200, response.json()
    checks = response.json()["checks"]
    assert checks["database"]["vendor"] in ("postgresql", "sqlite")
    assert [w["hostname"] for w in checks["workers"]["alive"]] == [worker.hostname]
    assert "queues_without_worker" not in checks["workers"]


@pytest.mark.django_db
def test_healthz_reports_an_unreachable_broker(settings, admin_client_):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = admin_client_.get("/healthz")
    assert response.status_code == 503
    assert not response.json()["checks"]["broker"]["ok"]


def test_the_platform_package_does_not_shadow_the_standard_library():
    import platform
    import uuid

    assert platform.__file__.endswith("platform.py") and uuid.uuid4()
