"""Checks that bytes someone sent really are an image we accept, before anything decodes or stores them.

Pillow's ``verify()`` checks the file structure, a second open + ``load()`` decodes every pixel (``verify``
alone misses truncated data), and the pixel count is checked from the header *before* decoding, so a
decompression bomb is refused without allocating its pixels. Every product that takes images (inspection
uploads, the model registry's predict endpoint) goes through :func:`image_check` with its own limits.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.core.exceptions import ValidationError

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP")


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_side: int
    min_side: int
    max_pixels: int


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    image_format: str
    width: int
    height: int


def image_check(data: bytes, *, limits: ImageLimits, name: str = "file") -> CheckedImage:
    """Return the image's format and size, or raise ``ValidationError`` saying what is wrong with it."""
    from PIL import Image

    if len(data) == 0:
        raise ValidationError(f"{name} is empty.")
    if len(data) > limits.max_bytes:
        raise ValidationError(f"{name} is {len(data)} bytes; the limit is {limits.max_bytes} bytes.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                image_format = img.format or ""
                width, height = img.size
                if image_format not in ALLOWED_FORMATS:
                    raise ValidationError(f"{name} is a {image_format or 'unknown'} image; allowed formats: {', '.join(ALLOWED_FORMATS)}.")
                _check_dimensions(name, width, height, limits)
                img.verify()
            with Image.open(io.BytesIO(data)) as img:
                img.load()
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(f"{name} declares too many pixels (a decompression bomb?); refused.") from None
    except (OSError, SyntaxError, ValueError, Image.UnidentifiedImageError) as exc:
        raise ValidationError(f"{name} is not a readable image ({exc.__class__.__name__}: {exc}).") from None
    return CheckedImage(data=data, image_format=image_format, width=width, height=height)


def _check_dimensions(name: str, width: int, height: int, limits: ImageLimits) -> None:
    if width > limits.max_side or height > limits.max_side:
        raise ValidationError(f"{name} is {width}×{height} pixels; the largest side allowed is {limits.max_side}.")
    if width < limits.min_side or height < limits.min_side:
        raise ValidationError(f"{name} is {width}×{height} pixels; the smallest side allowed is {limits.min_side}.")
    if width * height > limits.max_pixels:
        raise ValidationError(f"{name} has {width * height} pixels; the limit is {limits.max_pixels}.")
