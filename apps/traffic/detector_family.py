"""Registers ``traffic.detector``: an ultralytics YOLO detector, trained on labelled frames or a camera's own footage, or uploaded."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from apps.core.images import ImageLimits
from apps.mlops.families import ModelFamily, register_family
from apps.mlops.inputs import Base64ImageField, PredictInput
from ml.core import ConfigError, TrainingCancelled
from ml.traffic import yolo

DETECTOR_FAMILY = "traffic.detector"


@dataclass
class DetectorTrainConfig(yolo.YoloTrainConfig):
    """:class:`~ml.traffic.yolo.YoloTrainConfig` where footage comes from a camera: ``camera`` names it and the worker
    uses that camera's stored recordings. Paths to videos are never taken from a config (anyone who may start a run
    would otherwise have the worker read any file on the host)."""

    camera: int | None = None
    footage_end_fraction: float = 0.8  # the rest of each recording is held out to compare counts (without reviewed jobs)

    def validate(self) -> None:
        super().validate()
        if self.footage:
            raise ConfigError("footage is not given as paths: set camera, and that camera's processed recordings are used")
        if self.camera is not None and (self.camera < 1 or self.dataset):
            raise ConfigError("camera must be a camera id, and is not combined with dataset")


def _prepare(config: DetectorTrainConfig, run: Any) -> tuple[yolo.YoloDataset, dict[str, Any]]:
    if config.camera is None:
        if not config.dataset:
            raise ConfigError(
                "set config.camera to learn from a camera's processed recordings (the camera page's 'Learn from this camera's footage'), "
                "or config.dataset to a YOLO data.yaml of labelled frames, or upload trained weights instead"
            )
        return yolo.prepare_dataset(config)
    from apps.traffic.camera_detector import camera_training_plan

    plan = camera_training_plan(camera_id=config.camera, end_fraction=config.footage_end_fraction)
    dataset, snapshot = yolo.prepare_dataset(replace(config, footage=plan.footage), progress=_stage_writer(run))
    if plan.held_out:
        dataset.counting = yolo.CountingCheck(plan.lines, plan.held_out)
    return dataset, {**snapshot, **plan.snapshot}


def _stage_writer(run: Any) -> Callable[[float, str], None]:
    """Shows the harvest's progress as the run's stage (the progress bar starts with training), at most every 2 s;
    stops the harvest when the run was cancelled."""
    from django.utils import timezone

    from apps.mlops.models import RunStatus, TrainingRun

    last = [0.0]

    def write(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if now - last[0] < 2.0:
            return
        last[0] = now
        updated = TrainingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts, cancel_requested=False).update(
            stage=stage[:64], heartbeat_at=timezone.now()
        )
        if not updated:
            raise TrainingCancelled(f"run {run.pk} was cancelled or taken over")

    return write


def _consider_promotion(*, version: Any) -> Any:  # noqa: ANN401
    from apps.traffic.camera_detector import camera_detector_consider_promotion

    return camera_detector_consider_promotion(version=version)


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
        config_class=DetectorTrainConfig,
        prepare=_prepare,
        train=yolo.train,
        predictor_class=yolo.YoloPredictor,
        primary_metric="mAP50",
        train_at_bootstrap=False,
        description=(
            "Vehicle detector for traffic jobs. Upload pretrained weights (e.g. a COCO yolo11n.pt) on the Models page, train on a "
            "YOLO data.yaml of labelled frames (config.dataset), or let a camera learn from its own recordings (config.camera, "
            "'Learn from this camera's footage' on the camera page: such a version serves that camera only). Without a production "
            "version jobs use background subtraction + EfficientNet-Lite0."
        ),
        predict_input=FRAME_INPUT,
        memory_estimate=yolo.memory_estimate,
        consider_promotion=_consider_promotion,
    )
)
