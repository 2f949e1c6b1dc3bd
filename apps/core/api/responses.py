"""OpenAPI descriptions of the error responses views share (the body is always ``{"detail", "errors"}``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse

from apps.core.api.errors import ErrorSerializer

BODY_TOO_LARGE = OpenApiResponse(ErrorSerializer, description="The request body is over the endpoint's size limit; nothing was read or stored.")
RATE_LIMITED = OpenApiResponse(ErrorSerializer, description="Too many requests from this client, site or conversation; retry after Retry-After seconds.")
