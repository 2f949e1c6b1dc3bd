"""Factories for the platform's models. Product apps add theirs beside their tests."""

import factory

from apps.accounts.models import Role, User
from apps.accounts.services import api_token_create

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.OPERATOR
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: ANN001, ANN003, N805
        if create:
            obj.save()


class AdminFactory(UserFactory):
    role = Role.ADMIN
    is_staff = True
    is_superuser = True


def token_for(user: User, *scopes: str) -> str:
    """A real API token's secret for ``user`` with ``scopes``."""
    return api_token_create(user=user, name="test", scopes=list(scopes))[1]
