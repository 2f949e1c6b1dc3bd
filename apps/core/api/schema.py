"""The OpenAPI schema says what every view can answer, from what the view is, not per-view annotations.

``AutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds to each operation the error responses its view can
return, all with the ``Error`` body of ``apps.core.api.errors``:

- 400 when the operation takes a body or query parameters, or changes something (its input is validated);
- 401 and 403 when its permissions require a login (no or a bad token: 401; a token without the role or scope: 403);
- 404 when its path or body names an object, or it is paginated (a page past the last);
- 415 when it takes a body (a Content-Type it does not parse);
- 429 when it is throttled;
- 503 always: every operation needs the database, and the ones that start work need the message broker; while
  either cannot be reached (or the connection pool is exhausted) it answers 503 with Retry-After;
- and what the view declares in ``schema_error_statuses = {409: "why"}`` (states a view alone knows about).

Fields read from a model say what the model allows: a nullable column is ``nullable``, a blank-able string with a
format (``uri``, ``email``) also accepts ``""``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular import openapi
from rest_framework import permissions, serializers

from apps.core.api.errors import ErrorSerializer

_DESCRIPTIONS = {
    "400": "The input is invalid: `errors` names each field and what is wrong with it.",
    "401": "No credentials, or an invalid, expired or revoked token.",
    "403": "Authenticated, but the role or the token's scopes do not allow this.",
    "404": "Not found.",
    "409": "The request conflicts with the current state.",
    "415": "Unsupported Content-Type.",
    "429": "Too many requests: retry after the number of seconds in the Retry-After header.",
    "503": "Temporarily unavailable (database or message broker unreachable, or over capacity): retry after the "
    "number of seconds in the Retry-After header.",
}


# One character that Python's str.strip() (DRF trims strings) keeps: JSON Schema's \S differs (\x1c-\x1f, \x85).
_NOT_ONLY_WHITESPACE = "[^\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"


def _model_field(field: serializers.Field) -> Any:
    """The model field a serializer field reads, when it reads one directly."""
    parent = getattr(field, "parent", None)
    model = getattr(getattr(parent, "Meta", None), "model", None)
    source = getattr(field, "source", None)
    if model is None or not source or source == "*" or "." in source:
        return None
    try:
        return model._meta.get_field(source)
    except FieldDoesNotExist:
        return None


class AutoSchema(openapi.AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):  # noqa: ANN001, ANN202
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and field.trim_whitespace
            and not field.allow_blank
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            # The value is stripped before it is checked: only whitespace is blank, and refused.
            schema = {**schema, "pattern": _NOT_ONLY_WHITESPACE}
        model_field = _model_field(field)
        if model_field is None or "$ref" in schema or "allOf" in schema:
            return schema
        schema = dict(schema)
        if model_field.null and not getattr(model_field, "primary_key", False):
            schema["nullable"] = True
        if getattr(model_field, "blank", False) and schema.get("type") == "string" and "format" in schema and "oneOf" not in schema:
            outer = {"readOnly", "writeOnly", "nullable", "deprecated", "description", "title"}
            inner = {k: schema.pop(k) for k in list(schema) if k not in outer}
            schema["oneOf"] = [inner, {"type": "string", "maxLength": 0}]
        return schema

    def error_statuses(self, operation: dict[str, Any]) -> dict[str, str]:
        """Status code → description of the errors this operation can answer."""
        view = self.view
        query = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
        has_body = "requestBody" in operation
        statuses: dict[str, str] = {}
        if has_body or query or self.method in ("POST", "PUT", "PATCH"):
            statuses["400"] = _DESCRIPTIONS["400"]
        if not all(isinstance(p, permissions.AllowAny) for p in view.get_permissions()):
            statuses["401"] = _DESCRIPTIONS["401"]
            statuses["403"] = _DESCRIPTIONS["403"]
        # A path names an object; a body may name one (a camera id, a site key); a page may be past the last.
        if "{" in self.path or has_body or any(p["name"] == "page" for p in query):
            statuses["404"] = _DESCRIPTIONS["404"]
        if has_body:
            statuses["415"] = _DESCRIPTIONS["415"]
        if view.get_throttles():
            statuses["429"] = _DESCRIPTIONS["429"]
        statuses["503"] = _DESCRIPTIONS["503"]
        declared = getattr(view, "schema_error_statuses", {})
        if isinstance(declared, dict):
            for code, text in declared.items():
                # A view's own 503 (no model yet) comes on top of the general one.
                statuses[str(code)] = f"{text} {statuses['503']}" if str(code) == "503" else text
        return statuses

    def get_operation(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for code, description in self.error_statuses(operation).items():
            responses.setdefault(code, {"content": {"application/json": {"schema": error}}, "description": description})
        return operation
