"""New accounts start with the least privileged role; they reach nothing until an admin gives them a role."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.accounts.models import Role, User
from apps.accounts.services import user_create
from tests.factories import PASSWORD, AdminFactory

pytestmark = pytest.mark.django_db


def test_a_user_made_without_a_role_is_a_customer():
    assert User.objects.create_user(username="newcomer", password=PASSWORD).role == Role.CUSTOMER
    assert user_create(username="scripted", password=PASSWORD).role == Role.CUSTOMER


def test_a_user_added_in_the_admin_cannot_open_the_dashboard():
    admin = Client()
    admin.force_login(AdminFactory())
    # The add form offers the least privileged role unless the admin picks another.
    form = admin.get("/admin/accounts/user/add/").content.decode()
    assert '<option value="customer" selected>' in form
    response = admin.post(
        "/admin/accounts/user/add/", {"username": "fresh", "password1": PASSWORD, "password2": PASSWORD, "usable_password": "true", "role": "customer"}
    )
    assert response.status_code == 302, response.content[:2000]
    fresh = User.objects.get(username="fresh")
    assert fresh.role == Role.CUSTOMER and not fresh.is_operator
    client = Client()
    client.force_login(fresh)
    assert client.get("/").status_code == 403
    assert client.get("/api/v1/models/").status_code == 403


def test_create_api_token_refuses_a_user_without_a_role_that_may_use_the_api(capsys):
    User.objects.create_user(username="newcomer", password=PASSWORD)
    with pytest.raises(CommandError, match="integrator or operator"):
        call_command("create_api_token", "newcomer")
    user_create(username="shop-system", password=None, role=Role.INTEGRATOR)
    call_command("create_api_token", "shop-system", "--scope", "commerce:write")
    assert capsys.readouterr().out.startswith("ds_")
