"""The one shape every model family has: a config dataclass, ``train(dataset, config, progress)`` returning a
:class:`TrainedModel`, and a :class:`Predictor` with ``load(artifact)`` and ``predict_batch(items)``."""

from __future__ import annotations

import random
import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, Self, Union, get_args, get_origin, get_type_hints

from ml.device import DeviceInfo


class ProgressCallback(Protocol):
    def __call__(self, percent: float, stage: str, metrics: Mapping[str, float] | None = None) -> None:
        """Report progress 0–100 in ``stage``; ``metrics`` (e.g. epoch loss) go to the run's history.

        The callback may raise :class:`TrainingCancelled` to stop the training between steps.
        """


class TrainingCancelled(Exception):
    """Raised through the progress callback when the run was cancelled; trainers let it propagate."""


class ConfigError(ValueError):
    """A training config has unknown keys or invalid values."""


def no_progress(percent: float, stage: str, metrics: Mapping[str, float] | None = None) -> None:
    """A progress callback for scripts that do not track progress."""


@dataclass
class TrainConfig:
    """Base of every family's config; subclasses add their hyper-parameters with defaults."""

    seed: int = 0

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Self:
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        hints = get_type_hints(cls)
        for key, value in values.items():
            if not _matches(value, hints.get(key)):
                raise ConfigError(f"{key} must be of type {_type_name(hints[key])}, got {value!r}")
        config = cls(**values)
        config.validate()
        return config

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the overrides :meth:`from_dict` takes: the known keys with their JSON types, no others.
        Value ranges and rules across keys are :meth:`validate`'s (a :class:`ConfigError` names them)."""
        hints = get_type_hints(cls)
        return {
            "type": "object",
            "properties": {f.name: _json_type(hints[f.name]) for f in fields(cls)},
            "additionalProperties": False,
        }

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values that cannot train; subclasses extend it."""
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError("seed must be a non-negative integer")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainedModel:
    """What a trainer returns: the fitted model, its held-out metrics, and how to write it as one artifact file."""

    model: Any
    metrics: dict[str, float]
    save: Callable[[Path], None]
    artifact_name: str = "model.pt"
    details: dict[str, Any] = field(default_factory=dict)


class Predictor(ABC):
    """Loaded once per process and version; serves batched predictions."""

    @classmethod
    @abstractmethod
    def load(cls, artifact: Path, device: DeviceInfo | None = None) -> Self:
        """Load the artifact file written by :attr:`TrainedModel.save`."""

    @abstractmethod
    def predict_batch(self, items: Sequence[Any]) -> list[Any]:
        """Predict for many items in one pass; one result per item, in order."""

    @classmethod
    def check_file(cls, artifact: Path) -> None:
        """A cheap static check of a file someone uploads, that loads and runs nothing: raise
        :class:`ml.pickle_scan.UnsafeFileError` (a ValueError) when it cannot be this family's artifact. The default
        fits the ``torch.save`` dicts of tensors and plain data that :func:`load_torch_state` reads."""
        from ml.pickle_scan import check_tensor_file

        check_tensor_file(artifact)


def load_torch_state(artifact: Path, expected_format: str | tuple[str, ...], kind: str) -> dict[str, Any]:
    """A model artifact saved with ``torch.save`` as a dict carrying ``"format"``: loaded with weights only (no
    pickled code runs) and checked to be the kind the caller expects (one of the formats, given several); a clear
    ValueError otherwise."""
    import pickle

    import torch

    try:
        state = torch.load(artifact, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise ValueError(f"{artifact} is not a readable model artifact") from exc
    formats = (expected_format,) if isinstance(expected_format, str) else expected_format
    if not isinstance(state, dict) or state.get("format") not in formats:
        raise ValueError(f"{artifact} is not {kind} artifact")
    return state


def set_seed(seed: int) -> None:
    """Fix Python, NumPy and torch seeds so a run with the same config and data reproduces."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _matches(value: Any, hint: Any) -> bool:
    """JSON-level type check of a config value against its dataclass annotation."""
    if hint is None or hint is Any:
        return True
    if get_origin(hint) in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    if get_origin(hint) is list and get_args(hint):
        return isinstance(value, list) and all(_matches(item, get_args(hint)[0]) for item in value)
    return isinstance(value, get_origin(hint) or object)


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _json_type(hint: Any) -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.0 flavour: ``nullable``) of a config annotation, as :func:`_matches` checks it."""
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, types.UnionType):
        schema = _json_type(args[0]) if len(args) == 1 else {"anyOf": [_json_type(a) for a in args]}
        return {**schema, "nullable": True} if type(None) in get_args(hint) else schema
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    if get_origin(hint) is list:
        return {"type": "array", "items": _json_type(args[0])} if args else {"type": "array"}
    if get_origin(hint) is dict or hint is dict:
        return {"type": "object"}
    return {}


def _type_name(hint: Any) -> str:
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(hint))
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))
