"""A test-only app (INSTALLED_APPS in platform_/settings/test.py) registering families that misbehave on purpose.

It is installed in the test settings, so real worker processes started by the tests know these families too.
"""

from django.apps import AppConfig


class TestAppConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"

    def ready(self) -> None:
        from tests.testapp import families  # noqa: F401
