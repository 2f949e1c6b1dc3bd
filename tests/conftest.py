"""Shared fixtures. Imports stay inside the fixtures: tests/ml needs no Django and must not load it."""

import pytest


@pytest.fixture
def operator(db):
    from tests.factories import UserFactory

    return UserFactory(role="operator")


@pytest.fixture
def admin_user(db):
    from tests.factories import AdminFactory

    return AdminFactory()


@pytest.fixture
def operator_client(operator):
    from django.test import Client

    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def admin_client_(admin_user):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    return client
