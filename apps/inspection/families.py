"""The two model families of inspection, trained through apps.mlops from the labelled images of all stations.

- ``inspection.anomaly`` fits on images labelled OK in the train split (good parts only), calibrates on the OK
  images of the validation split and is scored (image AUROC, primary) on every labelled validation image.
- ``inspection.defect_type`` learns "ok" plus every defect type present from the train split; accuracy on the
  validation split is its primary metric.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from django.conf import settings

from apps.inspection.models import OK_LABEL, InspectionImage, Split
from apps.inspection.validation import inspection_image_limits
from apps.mlops.families import ModelFamily, register_family
from apps.mlops.inputs import Base64ImageField, PredictInput
from ml import vision

ANOMALY_FAMILY = "inspection.anomaly"
DEFECT_TYPE_FAMILY = "inspection.defect_type"


def _read(field: Any) -> bytes:
    with field.open("rb") as fh:
        return fh.read()


def _lazy(field: Any) -> vision.LazyImage:
    """A stored image read only when the trainer decodes it (one batch at a time), not all at once up front."""
    return vision.LazyImage(partial(_read, field), field.name)


def _labelled(split: str):  # noqa: ANN202
    return InspectionImage.objects.filter(split=split).exclude(label="").order_by("pk")


def prepare_anomaly(config: vision.AnomalyConfig, run: Any) -> tuple[vision.AnomalyDataset, dict[str, Any]]:
    train_good = list(_labelled(Split.TRAIN).filter(label=OK_LABEL))
    validation = list(_labelled(Split.VALIDATION))
    calibration = [img for img in validation if img.label == OK_LABEL]
    if len(train_good) < 2 or not calibration:
        raise ValueError(
            f"not enough good parts: {len(train_good)} labelled OK in the train split (need 2) and {len(calibration)} in the "
            "validation split (need 1); import labelled images or review results first"
        )
    dataset = vision.AnomalyDataset(
        train_good=[_lazy(i.file) for i in train_good],
        calibration_good=[_lazy(i.file) for i in calibration],
        validation=[_lazy(i.file) for i in validation],
        validation_labels=[int(i.label != OK_LABEL) for i in validation],
        validation_masks=[_lazy(i.mask) if i.mask else None for i in validation],
    )
    snapshot = {
        **dataset.describe(),
        "train_image_ids": [i.pk for i in train_good][:5000],
        "validation_image_ids": [i.pk for i in validation][:5000],
        "stations": sorted({i.station_id for i in train_good + validation}),
    }
    return dataset, snapshot


def prepare_defect_type(config: vision.ClassifierConfig, run: Any) -> tuple[vision.ClassifierDataset, dict[str, Any]]:
    train = list(_labelled(Split.TRAIN))
    validation = list(_labelled(Split.VALIDATION))
    classes = sorted({i.label for i in train} - {OK_LABEL})
    classes = [OK_LABEL, *classes] if any(i.label == OK_LABEL for i in train) else classes
    if len(classes) < 2:
        raise ValueError(f"the defect-type classifier needs labelled images of at least 2 classes in the train split, found {classes or 'none'}")
    index = {c: k for k, c in enumerate(classes)}
    validation = [i for i in validation if i.label in index]
    dataset = vision.ClassifierDataset(
        classes=classes,
        train_items=[_lazy(i.file) for i in train],
        train_labels=[index[i.label] for i in train],
        validation_items=[_lazy(i.file) for i in validation],
        validation_labels=[index[i.label] for i in validation],
    )
    return dataset, {**dataset.describe(), "train_image_ids": [i.pk for i in train][:5000], "validation_image_ids": [i.pk for i in validation][:5000]}


HEATMAP_MAX_SIDE = 64


def _present_anomaly(result: dict[str, Any]) -> dict[str, Any]:
    """The heatmap at most 64 cells a side (the full-size one is for the dashboard's overlay, not for JSON)."""
    import cv2

    heat = np.asarray(result["heatmap"], dtype=np.float32)
    scale = min(1.0, HEATMAP_MAX_SIDE / max(heat.shape))
    if scale < 1.0:
        heat = cv2.resize(heat, (max(1, round(heat.shape[1] * scale)), max(1, round(heat.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return {**result, "heatmap": np.round(heat, 4)}


def _image_input(description: str, present: Any = None) -> PredictInput:
    return PredictInput(
        kind="image",
        field=partial(Base64ImageField, limits=inspection_image_limits, mode="L"),
        max_items=settings.INSPECTION_MAX_FILES_PER_REQUEST,
        description="Each input is a base64-encoded image (PNG, JPEG, BMP, TIFF or WEBP) within the inspection upload limits; " + description,
        example="iVBORw0KGgo...",
        present=present,
    )


_ANOMALY_INPUT = _image_input("each prediction is {score, threshold, is_anomalous, heat_threshold, heatmap (≤64×64)}.", _present_anomaly)
_DEFECT_TYPE_INPUT = _image_input("each prediction is {label, confidence, probabilities}.")


def register() -> None:
    register_family(
        ModelFamily(
            name=ANOMALY_FAMILY,
            title="Inspection: anomaly detector",
            product="inspection",
            config_class=vision.AnomalyConfig,
            prepare=prepare_anomaly,
            train=vision.train_anomaly,
            predictor_class=vision.AnomalyPredictor,
            primary_metric="image_auroc",
            description=(
                "Fits on good parts only (PatchCore on EfficientNet-Lite0 features, or on a ResNet whose weights you supply; a "
                "whole-image Gaussian; a segmentation head trained on synthetic defects); score, heatmap, calibrated threshold."
            ),
            predict_input=_ANOMALY_INPUT,
            memory_estimate=vision.anomaly_memory_estimate,
        )
    )
    register_family(
        ModelFamily(
            name=DEFECT_TYPE_FAMILY,
            title="Inspection: defect-type classifier",
            product="inspection",
            config_class=vision.ClassifierConfig,
            prepare=prepare_defect_type,
            train=vision.train_classifier,
            predictor_class=vision.ClassifierPredictor,
            primary_metric="accuracy",
            description="Linear head on pooled EfficientNet-Lite0 (or supplied ResNet) features; learns OK plus every reviewed or imported defect type.",
            predict_input=_DEFECT_TYPE_INPUT,
            memory_estimate=vision.classifier_memory_estimate,
        )
    )
