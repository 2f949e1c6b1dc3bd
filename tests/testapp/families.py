from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.mlops.demo_family import POINT_INPUT
from apps.mlops.families import ModelFamily, register_family
from ml import demo
from ml.core import TrainConfig

FAILING_FAMILY = "test.failing"
FAILURE_MESSAGE = "simulated failure: CUDA out of memory while allocating 12.00 GiB"


@dataclass
class FailingConfig(TrainConfig):
    fail_at_percent: float = 50.0


def _prepare(config: FailingConfig, run: Any) -> tuple[dict, dict]:
    return {}, {"source": "nothing"}


def _train(dataset: Any, config: FailingConfig, progress, device):  # noqa: ANN001, ANN201
    progress(config.fail_at_percent, "training", {"epoch": 1, "train_loss": 1.0})
    raise RuntimeError(FAILURE_MESSAGE)


register_family(
    ModelFamily(
        name=FAILING_FAMILY,
        title="Always fails",
        product="platform",
        config_class=FailingConfig,
        prepare=_prepare,
        train=_train,
        predictor_class=demo.DemoPredictor,
        primary_metric="accuracy",
        predict_input=POINT_INPUT,
    )
)
