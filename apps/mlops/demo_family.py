"""Registers the built-in demo family (ml/demo): exercises the whole lifecycle before any product exists."""

from __future__ import annotations

from typing import Any

from apps.mlops.families import ModelFamily, register_family
from apps.mlops.inputs import PointInputField, PredictInput
from ml import demo

DEMO_FAMILY = "demo.classifier"


def _prepare(config: demo.DemoConfig, run: Any) -> tuple[demo.DemoDataset, dict[str, Any]]:
    # Without a fixed data_seed each run draws fresh data, as a product retraining on new events would.
    data_seed = config.data_seed if config.data_seed is not None else run.pk
    dataset = demo.make_dataset(n_samples=config.n_samples, noise=config.noise, seed=data_seed)
    return dataset, {"source": "generated spirals", "data_seed": data_seed, "noise": config.noise, **dataset.describe()}


POINT_INPUT = PredictInput(
    kind="point",
    field=PointInputField,
    max_items=1000,
    description="Each input is a point [x, y] (two finite numbers).",
    example=[0.3, -0.2],
)

register_family(
    ModelFamily(
        name=DEMO_FAMILY,
        title="Demo classifier",
        product="platform",
        config_class=demo.DemoConfig,
        prepare=_prepare,
        train=demo.train,
        predictor_class=demo.DemoPredictor,
        primary_metric="accuracy",
        description="A small torch MLP on generated spirals; proves train → register → promote → serve end to end.",
        predict_input=POINT_INPUT,
        memory_estimate=demo.memory_estimate,
    )
)
