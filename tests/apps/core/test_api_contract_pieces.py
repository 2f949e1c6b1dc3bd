"""The generic pieces of the API contract: documented errors, JSON 404s, bounded parameters, 409 and 404 codes."""

from __future__ import annotations

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from apps.accounts.models import Role
from apps.accounts.scopes import KNOWN_SCOPES
from apps.mlops.models import ModelVersion, TrainingRun, VersionStatus
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def operator_api() -> Client:
    return Client(headers={"Authorization": f"Bearer {token_for(UserFactory(role=Role.OPERATOR), *KNOWN_SCOPES)}"})


def _error_codes(operation: dict) -> set[str]:
    error = {"$ref": "#/components/schemas/Error"}
    return {code for code, response in operation["responses"].items() if response.get("content", {}).get("application/json", {}).get("schema") == error}


def test_every_operation_documents_the_errors_its_view_can_return(schema):
    listed = schema["paths"]["/api/v1/models/"]["get"]
    # query params, login, paginated, throttled; 503 everywhere (database or broker unreachable)
    assert _error_codes(listed) == {"400", "401", "403", "404", "429", "503"}
    promote = schema["paths"]["/api/v1/models/{id}/promote/"]["post"]
    assert {"400", "401", "403", "404", "409", "415", "429"} <= _error_codes(promote)
    # The widget is public (no 401/403 from permissions) but declares its own session and rate-limit errors.
    widget = schema["paths"]["/api/v1/chatbot/widget/messages/"]["post"]
    assert {"401", "429"} <= _error_codes(widget)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "503" in _error_codes(operation), f"{method.upper()} {path} does not document its 503"
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"detail", "errors"}


def test_schema_marks_nullable_columns_and_blank_formats(schema):
    version = schema["components"]["schemas"]["ModelVersion"]["properties"]
    assert version["parent"]["nullable"] and version["created_by"]["nullable"] and version["promoted_at"]["nullable"]
    assert schema["components"]["schemas"]["TrainingRun"]["properties"]["duration_seconds"]["nullable"]
    image_url = schema["components"]["schemas"]["Product"]["properties"]["image_url"]
    assert {"type": "string", "maxLength": 0} in image_url["oneOf"]  # "" is a valid value, not a bad uri


@pytest.mark.parametrize("settings_debug", [True, False])
def test_unknown_api_path_is_a_json_404_with_debug_on_or_off(settings, settings_debug):
    settings.DEBUG = settings_debug
    response = Client().get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "errors": {}}


@pytest.mark.parametrize(
    "query",
    ["page_size=99999999999999999999999", "page_size=0", "page_size=-5", "page=abc", "page=0", "page_size=1_0", "page=last"],
)
def test_malformed_or_out_of_range_pagination_is_a_400(operator_api, query):
    response = operator_api.get(f"/api/v1/models/?{query}")
    assert response.status_code == 400
    name = query.split("=")[0]
    assert list(response.json()["errors"]) == [name]


def test_page_past_the_last_is_a_404(operator_api):
    assert operator_api.get("/api/v1/models/?page=2").status_code == 404
    assert operator_api.get("/api/v1/models/?page=1&page_size=500").status_code == 200


def test_state_conflicts_are_409_with_the_field(operator_api):
    run = TrainingRun.objects.create(family="demo.classifier", status="succeeded", trigger="api")
    response = operator_api.post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["errors"] == {"status": [f"Run #{run.pk} has already finished (succeeded)."]}
    version = ModelVersion.objects.create(family="demo.classifier", version=1, status=VersionStatus.PRODUCTION, created_via="api")
    response = operator_api.post(f"/api/v1/models/{version.pk}/promote/", {}, content_type="application/json")
    assert response.status_code == 409 and "already in production" in response.json()["detail"]


def test_an_unknown_referenced_object_is_a_404_naming_the_field():
    response = Client().post("/api/v1/chatbot/widget/sessions/", {"site_key": "nope"}, content_type="application/json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "errors": {"site_key": ["Unknown or inactive site key."]}}


def test_nested_errors_are_named_by_their_path():
    from rest_framework import serializers

    from apps.core.api.errors import _flatten

    class Zone(serializers.Serializer):
        polygon = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))

    body = Zone(data={"polygon": [[1, 2], "x"]})
    assert not body.is_valid()
    assert _flatten(body.errors) == {"polygon.1": ['Expected a list of items but got type "str".']}


def test_required_strings_say_in_the_schema_that_only_whitespace_is_blank(schema):
    """DRF strips strings before it checks them: the schema says a required string holds a character that
    str.strip() keeps, so a schema-valid body (a SKU of one vertical tab) is never refused as blank."""
    import re

    skus = schema["components"]["schemas"]["SessionRequestRequest"]["properties"]["skus"]["items"]
    pattern = re.compile(skus["pattern"])
    assert not pattern.search("\x0b \u3000\x1f") and pattern.search(" sku-1 ")
    whitespace = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert not pattern.search(whitespace) and all(pattern.search(chr(c)) for c in range(0x110000) if not chr(c).isspace())
