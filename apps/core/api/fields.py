"""Serializer fields that take JSON values as their JSON type says, and a ModelSerializer that uses them.

DRF's FloatField takes ``true``/``false`` as 1.0/0.0 (``float(True)``); a client that sends a boolean where a number
belongs made a mistake, and the schema says so (``type: number``): it is a 400 here.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import serializers


class FloatField(serializers.FloatField):
    """A number; booleans are refused (DRF would read them as 1.0 and 0.0)."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer with :class:`FloatField` for the model's float columns."""

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping, models.FloatField: FloatField}
