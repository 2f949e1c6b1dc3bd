"""Checks an uploaded file really is an image inspection accepts (``INSPECTION_*`` limits), before anything is stored.

The checks themselves (structure, every pixel decoded, decompression bombs refused from the header) are
:func:`apps.core.images.image_check`; the predict endpoint of the inspection model families uses the same limits.
"""

from __future__ import annotations

from django.conf import settings

from apps.core.images import ALLOWED_FORMATS, CheckedImage, ImageLimits, image_check

__all__ = ["ALLOWED_FORMATS", "CheckedImage", "check_image", "inspection_image_limits"]


def inspection_image_limits() -> ImageLimits:
    return ImageLimits(
        max_bytes=settings.INSPECTION_MAX_UPLOAD_BYTES,
        max_side=settings.INSPECTION_MAX_IMAGE_SIDE,
        min_side=settings.INSPECTION_MIN_IMAGE_SIDE,
        max_pixels=settings.INSPECTION_MAX_PIXELS,
    )


def check_image(data: bytes, *, name: str = "file") -> CheckedImage:
    """Return the image's format and size, or raise ``ValidationError`` saying what is wrong with it."""
    return image_check(data, limits=inspection_image_limits(), name=name)
