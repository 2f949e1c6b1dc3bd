"""Middleware of the API."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.core.api.errors import json_error


class ApiNotFoundMiddleware:
    """A 404 under /api/ is the API's JSON error in every settings module.

    ``handler404`` only runs with DEBUG off; with DEBUG on (local settings) Django answers an unknown path with its
    HTML debug page, which an API client cannot parse.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 404 and request.path.startswith("/api/") and not response.get("Content-Type", "").startswith("application/json"):
            return json_error(request, "Not found.", 404)
        return response
