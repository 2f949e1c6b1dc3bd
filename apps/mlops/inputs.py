"""What each model family's predict endpoint takes: typed *data*, never a path or a URL.

A family declares a :class:`PredictInput`: a DRF field that validates one input item and turns it into what the
family's predictor takes (a string, a dict, a decoded pixel array), the most items one call may carry, and an
example for the OpenAPI schema. Images arrive as base64-encoded bytes, are checked with the same limits as
uploads (:func:`apps.core.images.image_check`) and decoded in memory, so a string such as ``"/etc/passwd"`` or
``"http://169.254.169.254/"`` is refused as "not base64 image bytes" instead of being opened or fetched.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.core.api.fields import FloatField
from apps.core.images import ImageLimits, image_check


@dataclass(frozen=True)
class PredictInput:
    kind: str  # "text", "image", "point", "recommendation request"
    field: Callable[[], serializers.Field]  # validates one item; its validated value goes to predict_batch
    max_items: int
    description: str
    example: Any
    # Turns one prediction of the family's predictor into plain JSON (default: dataclasses, numpy → lists, NaN → null).
    present: Callable[[Any], Any] | None = field(default=None)


def to_json(value: Any) -> Any:
    """Plain JSON from what predictors return: dataclasses, tuples, numpy arrays and scalars; NaN/inf become null."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_json(value.to_dict())
    if is_dataclass(value) and not isinstance(value, type):
        return to_json(asdict(value))
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        return to_json(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


# --- fields -----------------------------------------------------------------------------------------------------


class TextInputField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 2000)
        kwargs.setdefault("help_text", "A message as a customer would type it.")
        super().__init__(**kwargs)


class PointInputField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=FloatField(), min_length=2, max_length=2, help_text="A point [x, y].", **kwargs)


class Base64ImageField(serializers.CharField):
    """Base64-encoded image bytes (PNG, JPEG, BMP, TIFF, WEBP) → a decoded uint8 array.

    ``mode`` is ``"L"`` (a 2-D grey array, as the inspection models read uploads) or ``"BGR"`` (an H×W×3 frame, as
    the traffic detector reads video). ``limits`` returns the byte/side/pixel limits, read when a request arrives.
    """

    default_error_messages = {"base64": "Must be base64-encoded image bytes (not a path or a URL)."}

    def __init__(self, *, limits: Callable[[], ImageLimits], mode: str = "L", **kwargs: Any) -> None:
        self.limits, self.mode = limits, mode
        kwargs.setdefault("help_text", "Base64-encoded image bytes (PNG, JPEG, BMP, TIFF or WEBP); a data: URL prefix is accepted.")
        kwargs["trim_whitespace"] = True
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> np.ndarray:
        text = super().to_internal_value(data)
        limits = self.limits()
        if text.startswith("data:image/") and ";base64," in text[:64]:
            text = text.split(",", 1)[1]
        # Base64 is 4/3 the size of the bytes: refuse an oversized string before decoding it.
        if len(text) > (limits.max_bytes * 4) // 3 + 4:
            raise serializers.ValidationError(f"The image is larger than {limits.max_bytes} bytes.")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self.fail("base64")
        try:
            image_check(raw, limits=limits, name="the image")
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return decode_image(raw, self.mode)


def decode_image(raw: bytes, mode: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as img:
        if mode == "L":
            return np.asarray(img.convert("L"))
        rgb = np.asarray(img.convert("RGB"))
        return np.ascontiguousarray(rgb[..., ::-1]) if mode == "BGR" else rgb


# --- the request body -------------------------------------------------------------------------------------------


def predict_serializer(spec: PredictInput, *, data: Any) -> serializers.Serializer:
    """A serializer for ``{"inputs": [item, ...]}`` with the family's item field and its item limit."""
    inputs = serializers.ListField(child=spec.field(), min_length=1, max_length=spec.max_items)
    return type("PredictBody", (serializers.Serializer,), {"inputs": inputs})(data=data)


def error_messages(detail: Any, where: str = "inputs") -> list[str]:
    """``["inputs[0]: message", "inputs[2].n: message"]`` from DRF's nested list/dict error detail."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if key == "non_field_errors":
                out += error_messages(value, where)
            else:
                out += error_messages(value, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}")
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in error_messages(item, where)]
    return [f"{where}: {detail}" if where != "inputs" else str(detail)]


def present(spec: PredictInput, predictions: list[Any]) -> list[Any]:
    return [to_json(spec.present(p) if spec.present else p) for p in predictions]
