"""The client's address comes from X-Forwarded-For only through a trusted proxy; IPv6 clients are keyed by /64."""

from __future__ import annotations

import ipaddress
import uuid

import pytest
from django.test import Client
from rest_framework.test import APIRequestFactory

from apps.core.api.throttling import AnonRateThrottle
from apps.core.clients import client_ip, rate_key
from tests.apps.chatbot.helpers import demo_site

SESSIONS = "/api/v1/chatbot/widget/sessions/"


def _random_v6_network() -> ipaddress.IPv6Network:
    # A /64 of its own per test: counters in Redis outlive a test within the same minute.
    return ipaddress.IPv6Network((uuid.uuid4().int >> 64 << 64, 64))


def _random_v4() -> str:
    return str(ipaddress.IPv4Address(0x0A000000 | uuid.uuid4().int & 0x00FFFFFF))


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(settings):
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.1", "192.168.0.0/16"]
    assert client_ip(peer="203.0.113.9", forwarded_for=["1.2.3.4"]) == "203.0.113.9"
    assert client_ip(peer="10.0.0.1", forwarded_for=["1.2.3.4"]) == "1.2.3.4"
    # A client prepends a forged hop; the proxy appends the real one: the rightmost untrusted hop wins.
    assert client_ip(peer="10.0.0.1", forwarded_for=["6.6.6.6, 198.51.100.7, 192.168.3.4"]) == "198.51.100.7"
    assert client_ip(peer="10.0.0.1", forwarded_for=[]) == "10.0.0.1"


def test_ipv6_clients_share_a_key_per_64():
    assert rate_key("2001:db8:1:2::1") == rate_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("::ffff:198.51.100.7") == rate_key("198.51.100.7") == "198.51.100.7"
    assert rate_key("not an address") == "unknown"


@pytest.mark.django_db
def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_escape_the_limit(settings):
    settings.CHATBOT_SESSIONS_PER_MINUTE = 2
    site = demo_site()
    attacker = Client(REMOTE_ADDR=_random_v4())
    codes = [
        attacker.post(SESSIONS, {"site_key": site.site_key}, content_type="application/json", HTTP_X_FORWARDED_FOR=_random_v4()).status_code for _ in range(3)
    ]
    assert codes == [201, 201, 429]


@pytest.mark.django_db
def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(settings):
    settings.CHATBOT_SESSIONS_PER_MINUTE = 1
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1"]
    site = demo_site()
    proxy = Client(REMOTE_ADDR="127.0.0.1")
    first, second = _random_v4(), _random_v4()
    post = lambda ip: proxy.post(SESSIONS, {"site_key": site.site_key}, content_type="application/json", HTTP_X_FORWARDED_FOR=ip).status_code  # noqa: E731
    assert [post(first), post(second), post(first)] == [201, 201, 429]


@pytest.mark.django_db
def test_two_addresses_in_one_ipv6_64_share_a_bucket(settings):
    settings.CHATBOT_SESSIONS_PER_MINUTE = 1
    site = demo_site()
    network = _random_v6_network()
    one, other = Client(REMOTE_ADDR=str(network[1])), Client(REMOTE_ADDR=str(network[-2]))
    neighbour = Client(REMOTE_ADDR=str(next(iter(_random_v6_network().hosts()))))
    assert one.post(SESSIONS, {"site_key": site.site_key}, content_type="application/json").status_code == 201
    assert other.post(SESSIONS, {"site_key": site.site_key}, content_type="application/json").status_code == 429
    assert neighbour.post(SESSIONS, {"site_key": site.site_key}, content_type="application/json").status_code == 201


@pytest.mark.django_db
def test_widget_requests_are_limited_per_client(settings):
    settings.CHATBOT_WIDGET_REQUESTS_PER_MINUTE = 3
    demo_site()
    client = Client(REMOTE_ADDR=_random_v4())
    codes = [client.get("/api/v1/chatbot/widget/messages/", HTTP_X_CHAT_TOKEN="forged").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


@pytest.mark.django_db
def test_sessions_are_limited_per_site(settings):
    settings.CHATBOT_SITE_SESSIONS_PER_MINUTE = 0  # the site's budget is spent: any new client is refused
    site = demo_site()
    response = Client(REMOTE_ADDR=_random_v4()).post(SESSIONS, {"site_key": site.site_key}, content_type="application/json")
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1


def test_drf_throttles_key_clients_the_same_way(settings):
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.1"]
    factory = APIRequestFactory()
    throttle = AnonRateThrottle()
    spoofed = factory.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    proxied = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
    v6 = factory.get("/", REMOTE_ADDR="2001:db8:5:6::abcd")
    assert throttle.get_ident(spoofed) == "203.0.113.9"
    assert throttle.get_ident(proxied) == "1.2.3.4"
    assert throttle.get_ident(v6) == "2001:db8:5:6::/64"


@pytest.mark.django_db(transaction=True)
def test_widget_socket_connections_count_against_the_client(settings):
    from asgiref.sync import async_to_sync

    from apps.chatbot import services as chat
    from platform_.asgi import application
    from tests.apps.chatbot.ws import WebsocketCommunicator

    settings.CHATBOT_WIDGET_REQUESTS_PER_MINUTE = 0
    site = demo_site()
    token = chat.session_token(conversation=chat.session_start(site_key=site.site_key))

    async def scenario() -> None:
        socket = WebsocketCommunicator(application, f"/ws/chatbot/widget/?token={token}")
        connected, code = await socket.connect()
        assert not connected and code == 4429

    async_to_sync(scenario)()
