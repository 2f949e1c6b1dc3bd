"""One error body for the whole API: ``{"detail": "...", "errors": {field: [messages]}}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.database import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, discard_connection, is_connection_error
from apps.core.errors import CONFLICT, DOES_NOT_EXIST


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = CONFLICT


class ErrorSerializer(serializers.Serializer):
    """The body of every error response (the OpenAPI component ``Error``)."""

    detail = serializers.CharField(help_text="What was wrong and what to do.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Messages per input field; empty when no field is to blame."
    )


def _codes(exc: DjangoValidationError) -> set[str | None]:
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors}
    return {e.code for e in exc.error_list}


def _messages(detail: Any, prefix: str, out: dict[str, list[str]]) -> None:
    # Nested errors (a list item, a nested object) are named by their path: "polygon.0", "rows.3.sku".
    if isinstance(detail, dict):
        for key, value in detail.items():
            _messages(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):
                _messages(item, f"{prefix}.{index}" if prefix else str(index), out)
            else:
                out.setdefault(prefix or "non_field_errors", []).append(str(item))
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))


def _flatten(detail: Any) -> dict[str, list[str]]:
    if not isinstance(detail, dict | list):
        return {}
    out: dict[str, list[str]] = {}
    _messages(detail, "", out)
    return out


def _leaf_codes(codes: Any) -> set[str]:
    if isinstance(codes, dict):
        return {c for v in codes.values() for c in _leaf_codes(v)}
    if isinstance(codes, list):
        return {c for v in codes for c in _leaf_codes(v)}
    return {str(codes)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if is_connection_error(exc):
        # The database is away or the connection pool is exhausted: retryable, never a 500.
        discard_connection()
        return Response({"detail": DATABASE_UNAVAILABLE, "errors": {}}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    # Services raise Django's ValidationError; to the API user it is the same 400 as a serializer error.
    if isinstance(exc, DjangoValidationError):
        messages = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        if _codes(exc) == {CONFLICT}:
            response = drf_exception_handler(Conflict(" ".join(m for ms in messages.values() for m in ms)), context)
            response.data = {"detail": response.data["detail"], "errors": _flatten(messages)}
            return response
        exc = exceptions.ValidationError(messages, code=DOES_NOT_EXIST if _codes(exc) == {DOES_NOT_EXIST} else None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError) and _leaf_codes(exc.get_codes()) == {DOES_NOT_EXIST}:
        # Well-formed input naming an object that does not exist (a camera id, a site key): 404, with the field.
        response.status_code = status.HTTP_404_NOT_FOUND
        response.data = {"detail": "Not found.", "errors": _flatten(exc.detail)}
    elif isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "errors": _flatten(exc.detail)}
    else:
        detail = response.data.get("detail", str(exc)) if isinstance(response.data, dict) else str(exc)
        response.data = {"detail": str(detail), "errors": {}}
    return response


def json_error(request, detail: str, code: int) -> JsonResponse:  # noqa: ANN001
    return JsonResponse({"detail": detail, "errors": {}}, status=code)


def handler404(request, exception=None):  # noqa: ANN001, ANN201
    """JSON 404 under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_error(request, "Not found.", status.HTTP_404_NOT_FOUND)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):  # noqa: ANN001, ANN201
    if request.path.startswith("/api/"):
        return json_error(request, "Internal server error; the incident was logged.", status.HTTP_500_INTERNAL_SERVER_ERROR)
    from django.views.defaults import server_error

    return server_error(request)
