"""The road-user classes Downstream counts, and how other vocabularies map onto them."""

from __future__ import annotations

VEHICLE_CLASSES = ("car", "bus", "truck", "motorcycle", "bicycle", "person")

_ALIASES = {
    "motorbike": "motorcycle",
    "motor": "motorcycle",
    "bike": "bicycle",
    "pedestrian": "person",
    "van": "car",
    "lorry": "truck",
    "vehicle": "car",
}


def normalise_label(name: str) -> str | None:
    """A detector's class name as one of :data:`VEHICLE_CLASSES`, or None (COCO's other classes)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in VEHICLE_CLASSES else None
