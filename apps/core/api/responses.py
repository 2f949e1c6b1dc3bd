"""OpenAPI descriptions of the error responses views share (the body is always ``{"detail", "errors"}``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What was wrong and what to do.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), help_text="Messages per field.")


BODY_TOO_LARGE = OpenApiResponse(ErrorSerializer, description="The request body is over the endpoint's size limit; nothing was read or stored.")
RATE_LIMITED = OpenApiResponse(ErrorSerializer, description="Too many requests from this client, site or conversation; retry after Retry-After seconds.")
