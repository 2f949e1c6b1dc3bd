"""Checks an uploaded file really is an image we accept, before anything is stored.

Pillow's ``verify()`` checks the file structure, a second open + ``load()`` decodes every pixel (``verify``
alone misses truncated data), and the pixel count is checked from the header *before* decoding, so a
decompression bomb is refused without allocating its pixels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP")


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    image_format: str
    width: int
    height: int


def check_image(data: bytes, *, name: str = "file") -> CheckedImage:
    """Return the image's format and size, or raise ``ValidationError`` saying what is wrong with it."""
    from PIL import Image

    max_bytes = settings.INSPECTION_MAX_UPLOAD_BYTES
    if len(data) == 0:
        raise ValidationError(f"{name} is empty.")
    if len(data) > max_bytes:
        raise ValidationError(f"{name} is {len(data)} bytes; the limit is {max_bytes} bytes.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                image_format = img.format or ""
                width, height = img.size
                if image_format not in ALLOWED_FORMATS:
                    raise ValidationError(f"{name} is a {image_format or 'unknown'} image; allowed formats: {', '.join(ALLOWED_FORMATS)}.")
                _check_dimensions(name, width, height)
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


def _check_dimensions(name: str, width: int, height: int) -> None:
    max_side = settings.INSPECTION_MAX_IMAGE_SIDE
    min_side = settings.INSPECTION_MIN_IMAGE_SIDE
    if width > max_side or height > max_side:
        raise ValidationError(f"{name} is {width}×{height} pixels; the largest side allowed is {max_side}.")
    if width < min_side or height < min_side:
        raise ValidationError(f"{name} is {width}×{height} pixels; the smallest side allowed is {min_side}.")
    if width * height > settings.INSPECTION_MAX_PIXELS:
        raise ValidationError(f"{name} has {width * height} pixels; the limit is {settings.INSPECTION_MAX_PIXELS}.")
