"""Every operator page without URL arguments renders for an operator on an empty database, and refuses others.

A crawl over the URL configuration, so a product page added later is covered without touching this file.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Operator pages live in these URL namespaces; the API, admin and login have their own tests.
OPERATOR_NAMESPACES = ("dashboard", "recommendations", "chatbot", "inspection", "traffic")
# Served to shoppers by design: the chat widget a shop embeds and the demo shop page that embeds it.
PUBLIC_PATHS = {"/chatbot/widget.js", "/chatbot/demo-shop/"}


def _argument_free_paths() -> list[str]:
    paths: list[str] = []

    def walk(patterns, prefix: str, namespace: str | None) -> None:  # noqa: ANN001
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.pattern.regex.groups:
                    continue
                walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace in OPERATOR_NAMESPACES and not entry.pattern.regex.groups:
                if "<" not in str(entry.pattern):
                    paths.append("/" + prefix + str(entry.pattern))

    walk(get_resolver().url_patterns, "", None)
    return sorted(set(paths))


PATHS = _argument_free_paths()


def test_the_crawl_finds_every_products_pages() -> None:
    for product in ("/recommendations/", "/chatbot/", "/inspection/", "/traffic/", "/models/", "/runs/"):
        assert product in PATHS


@pytest.mark.parametrize("path", PATHS)
def test_page_renders_for_an_operator_on_an_empty_database(operator_client, path: str) -> None:  # noqa: ANN001
    response = operator_client.get(path, follow=True)
    # POST-only actions answer 405; everything else must render.
    assert response.status_code in (200, 405), f"{path} → {response.status_code}"


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS))
def test_public_pages_render_for_anonymous_visitors(client, path: str) -> None:  # noqa: ANN001
    assert path in PATHS
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", [p for p in PATHS if p not in PUBLIC_PATHS])
def test_page_is_refused_to_customers_and_anonymous_visitors(client, path: str) -> None:  # noqa: ANN001
    anonymous = client.get(path)
    assert anonymous.status_code in (302, 401, 403, 405), f"{path} → {anonymous.status_code} for an anonymous visitor"
    if anonymous.status_code == 302:
        assert "/login/" in anonymous["Location"]
    client.force_login(UserFactory(role="customer"))
    customer = client.get(path)
    assert customer.status_code in (403, 405), f"{path} → {customer.status_code} for a customer"
