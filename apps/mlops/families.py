"""The registry of model families. Each product registers its families in its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml.core import Predictor, ProgressCallback, TrainConfig, TrainedModel
from ml.device import DeviceInfo
from ml.memory import MemoryEstimate

if TYPE_CHECKING:
    from apps.mlops.inputs import PredictInput
    from apps.mlops.models import ModelVersion, TrainingRun


@dataclass(frozen=True)
class ModelFamily:
    name: str  # "<product>.<model>", e.g. "demo.classifier"
    title: str
    product: str  # "platform", "recommendations", "chatbot", "inspection", "traffic"
    config_class: type[TrainConfig]
    # Reads the training data (from the database, files, …) and returns it with a JSON description of what was
    # read (counts, time range, seeds): the data snapshot stored on the run and the model version.
    prepare: Callable[[TrainConfig, TrainingRun], tuple[Any, dict[str, Any]]]
    train: Callable[[Any, TrainConfig, ProgressCallback, DeviceInfo], TrainedModel]
    predictor_class: type[Predictor]
    primary_metric: str
    higher_is_better: bool = True
    # A candidate must beat production by more than this to be promoted automatically.
    min_improvement: float = 0.0
    description: str = ""
    # `make run` trains a first version of every family that has none; a family that needs data the demo cannot
    # provide (e.g. labelled frames, operator-uploaded weights) opts out and is trained or imported on request.
    train_at_bootstrap: bool = True
    # What POST /api/v1/models/families/<name>/predict/ takes per item (typed data, never a path or URL).
    predict_input: PredictInput | None = None
    # Predicted peak memory of ``train`` on the prepared data (config, dataset → estimate): checked against
    # ML_MEMORY_LIMIT before training starts, so a run too large for the worker fails with a clear message instead of
    # being killed by the kernel. None: not checked.
    memory_estimate: Callable[[TrainConfig, Any], MemoryEstimate] | None = None
    # Decides what a newly trained version serves (called as ``consider_promotion(version=...)`` in the transaction
    # that registers it). None: the family rule, :func:`apps.mlops.services.model_version_consider_promotion`. A
    # family whose versions can serve one site or camera rather than every caller decides that here.
    consider_promotion: Callable[..., ModelVersion] | None = None

    def beats(self, candidate: float | None, production: float | None) -> bool:
        if candidate is None:
            return False
        if production is None:
            return True
        delta = candidate - production if self.higher_is_better else production - candidate
        return delta > self.min_improvement


class UnknownFamily(LookupError):
    pass


_FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    existing = _FAMILIES.get(family.name)
    if existing is not None and existing != family:
        raise ValueError(f"model family {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> ModelFamily:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise UnknownFamily(f"unknown model family {name!r}; registered: {', '.join(sorted(_FAMILIES)) or 'none'}") from None


def all_families() -> list[ModelFamily]:
    return sorted(_FAMILIES.values(), key=lambda f: (f.product, f.name))
