"""Serializer fields that take JSON values as their JSON type says, and a ModelSerializer that uses them.

DRF's FloatField takes ``true``/``false`` as 1.0/0.0 (``float(True)``) and its CharField takes ``5`` as ``"5"``; a
client that sends a boolean where a number belongs, or a number where a string belongs, made a mistake, and the
schema says so (``type: number``, ``type: string``): it is a 400 here.
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


class CharField(serializers.CharField):
    """A string; numbers are refused (DRF would turn them into strings)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class BooleanField(serializers.BooleanField):
    """``true`` or ``false`` in a JSON body (DRF also takes 0, 1, "yes", "on"...). Query parameters are strings: they
    keep DRF's BooleanField."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class IntegerField(serializers.IntegerField):
    """An integer in a JSON body; booleans and strings are refused (DRF takes ``true`` as 1 and ``"7"`` as 7)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool | str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer with :class:`FloatField` and :class:`CharField` for the model's float and text columns."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.FloatField: FloatField,
        models.CharField: CharField,
        models.TextField: CharField,
    }
