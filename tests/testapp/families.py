from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
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


# --- a run that waits for the test: lets a fault drill break the database at a known point of training ----------
GATED_FAMILY = "test.gated"
GATED_FAILURE_MESSAGE = "gated failure: the trainer's own error"


@dataclass
class GatedConfig(demo.DemoConfig):
    gate: str = ""  # a file path: training waits (up to 60 s) until it exists
    fail: bool = False  # after the gate: raise GATED_FAILURE_MESSAGE instead of training


def _gated_prepare(config: GatedConfig, run: Any) -> tuple[Any, dict]:
    dataset = demo.make_dataset(n_samples=config.n_samples, noise=config.noise, seed=1)
    return dataset, {"source": "generated spirals", **dataset.describe()}


def _gated_train(dataset: Any, config: GatedConfig, progress, device):  # noqa: ANN001, ANN201
    progress(5, "waiting for the gate")
    deadline = time.monotonic() + 60
    while config.gate and not Path(config.gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {config.gate} never opened")
        time.sleep(0.05)
    if config.fail:
        raise RuntimeError(GATED_FAILURE_MESSAGE)  # before any write: the failure path is the first to meet the database
    progress(10, "training")
    return demo.train(dataset, config, progress, device)


register_family(
    ModelFamily(
        name=GATED_FAMILY,
        title="Waits for a file, then trains (or fails)",
        product="platform",
        config_class=GatedConfig,
        prepare=_gated_prepare,
        train=_gated_train,
        predictor_class=demo.DemoPredictor,
        primary_metric="accuracy",
        predict_input=POINT_INPUT,
    )
)
