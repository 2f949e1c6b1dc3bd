"""Registers ``traffic.detector``: an ultralytics YOLO detector, trained on labelled frames or uploaded."""

from __future__ import annotations

from typing import Any

from apps.mlops.families import ModelFamily, register_family
from ml.traffic import yolo

DETECTOR_FAMILY = "traffic.detector"


def _prepare(config: yolo.YoloTrainConfig, run: Any) -> tuple[yolo.YoloDataset, dict[str, Any]]:
    return yolo.prepare_dataset(config)


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
    )
)
