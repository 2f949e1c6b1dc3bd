"""Password guessing at /login/ and /admin/ is throttled per username and per client address (cache counters)."""

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import PASSWORD, AdminFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    settings.LOGIN_FAILURES_PER_IP = 5
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 600
    cache.clear()
    yield
    cache.clear()


def _login(username: str, password: str, ip: str = "203.0.113.7", url: str = "/login/"):  # noqa: ANN202
    return Client(REMOTE_ADDR=ip).post(url, {"username": username, "password": password})


def test_a_username_is_locked_after_its_failures_even_with_the_right_password():
    user = UserFactory(role="operator")
    for attempt in range(3):
        response = _login(user.username, f"wrong-{attempt}", ip=f"198.51.100.{attempt}")
        assert response.status_code == 200
        assert b"correct username and password" in response.content
    # From yet another address, with the right password: refused until the window ends.
    refused = _login(user.username, PASSWORD, ip="198.51.100.99")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 500
    assert b"Too many failed login attempts" in refused.content and b"Wait 10 minutes" in refused.content
    # Another account is not affected.
    other = UserFactory(role="operator")
    assert _login(other.username, PASSWORD, ip="198.51.100.99").status_code == 302
    cache.clear()  # the window ended
    assert _login(user.username, PASSWORD).status_code == 302


def test_an_address_is_locked_after_failures_spread_over_many_usernames():
    user = UserFactory(role="operator")
    for n in range(5):
        assert _login(f"guess{n}", "password").status_code == 200
    assert _login(user.username, PASSWORD).status_code == 429
    assert _login(user.username, PASSWORD, ip="192.0.2.10").status_code == 302


def test_a_successful_login_clears_the_username_failures():
    user = UserFactory(role="operator")
    for _ in range(2):
        _login(user.username, "wrong")
    # A blank password checks nothing, so it must not clear the count either.
    _login(user.username, "")
    assert _login(user.username, PASSWORD).status_code == 302
    for _ in range(2):
        _login(user.username, "wrong", ip="192.0.2.20")
    assert _login(user.username, PASSWORD, ip="192.0.2.21").status_code == 302


def test_the_admin_login_is_throttled_too():
    admin = AdminFactory()
    for _ in range(3):
        assert _login(admin.username, "wrong", url="/admin/login/").status_code == 200
    response = _login(admin.username, PASSWORD, url="/admin/login/")
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in response.wsgi_request.session
