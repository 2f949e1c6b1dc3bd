"""Registers ``traffic.detector``: an ultralytics YOLO detector, trained on labelled frames or uploaded."""

from __future__ import annotations

from functools import partial
from typing import Any

from apps.core.images import ImageLimits
from apps.mlops.families import ModelFamily, register_family
from apps.mlops.inputs import Base64ImageField, PredictInput
from ml.traffic import yolo

DETECTOR_FAMILY = "traffic.detector"


def _prepare(config: yolo.YoloTrainConfig, run: Any) -> tuple[yolo.YoloDataset, dict[str, Any]]:
    return yolo.prepare_dataset(config)


# A camera frame: up to 8K on a side, 40 megapixels, 20 MiB encoded (the inspection upload limits' defaults).
FRAME_LIMITS = ImageLimits(max_bytes=20 * 1024 * 1024, max_side=8192, min_side=16, max_pixels=40_000_000)
FRAME_INPUT = PredictInput(
    kind="image",
    field=partial(Base64ImageField, limits=lambda: FRAME_LIMITS, mode="BGR"),
    max_items=16,
    description=(
        "Each input is a base64-encoded camera frame (PNG, JPEG, BMP, TIFF or WEBP; ≤20 MiB, ≤8192 px a side); "
        "each prediction is a list of detections {box: [x1, y1, x2, y2], score, label}."
    ),
    example="/9j/4AAQSkZJRg...",
)

register_family(
    ModelFamily(
        name=DETECTOR_FAMILY,
        title="Traffic detector (YOLO)",
        product="traffic",
        config_class=yolo.YoloTrainConfig,
        prepare=_prepare,
        train=yolo.train,
        predictor_class=yolo.YoloPredictor,
        primary_metric="mAP50",
        train_at_bootstrap=False,
        description=(
            "Vehicle detector for traffic jobs. Upload pretrained weights (e.g. a COCO yolo11n.pt) on the Models page, or train on a "
            "YOLO data.yaml of labelled frames (config.dataset). Without a production version jobs use background subtraction + EfficientNet-Lite0."
        ),
        predict_input=FRAME_INPUT,
        memory_estimate=yolo.memory_estimate,
    )
)
