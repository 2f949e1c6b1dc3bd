"""Per-process model cache: each process loads a version once and follows promotions without a restart.

A process asks the database which version is in production at most every ``MLOPS_SERVING_REFRESH_SECONDS``;
when that changes (promotion or rollback), the next prediction loads the new version. Nothing is loaded at
import time, so web and worker processes start fast and never touch CUDA before forking.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings

from apps.mlops.families import get_family
from apps.mlops.models import ModelVersion
from apps.mlops.selectors import production_version
from ml.artifacts import open_store
from ml.core import Predictor
from ml.device import select_device

_MAX_LOADED = 8


class NoProductionModel(LookupError):
    """The family has no version in production yet."""


class ModelCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: OrderedDict[int, Predictor] = OrderedDict()
        self._production: dict[str, tuple[float, ModelVersion | None]] = {}

    def production(self, family: str) -> ModelVersion | None:
        checked = self._production.get(family)
        if checked is None or time.monotonic() - checked[0] >= settings.MLOPS_SERVING_REFRESH_SECONDS:
            version = production_version(family=family)
            self._production[family] = checked = (time.monotonic(), version)
        return checked[1]

    def predictor(self, version: ModelVersion) -> Predictor:
        with self._lock:
            predictor = self._loaded.get(version.pk)
            if predictor is None:
                spec = get_family(version.family)
                path = open_store(settings.ARTIFACT_STORE_URI).fetch(version.artifact_uri, version.artifact_sha256)
                predictor = spec.predictor_class.load(path, select_device())
                self._loaded[version.pk] = predictor
                while len(self._loaded) > _MAX_LOADED:
                    self._loaded.popitem(last=False)
            else:
                self._loaded.move_to_end(version.pk)
            return predictor

    def predict(self, family: str, items: list[Any]) -> tuple[ModelVersion, list[Any]]:
        version = self.production(family)
        if version is None:
            raise NoProductionModel(f"{family} has no production model yet; train one first.")
        return version, self.predictor(version).predict_batch(items)

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()
            self._production.clear()


model_cache = ModelCache()
