"""View decorators for server-rendered operator pages (the dashboard and each product's pages)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def operator_required(view):  # noqa: ANN001, ANN201
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # noqa: ANN002, ANN003
        if not request.user.is_operator:
            raise PermissionDenied("The dashboard is for operators and admins.")
        return view(request, *args, **kwargs)

    return wrapped
