"""Helpers for model-registry tests: train a real demo version quickly, inline."""

from __future__ import annotations

from apps.mlops import services
from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import ModelVersion, TrainingRun

FAST_CONFIG = {"epochs": 3, "n_samples": 300}


def train_inline(family: str = DEMO_FAMILY, config: dict | None = None, trigger: str = "cli") -> TrainingRun:
    """Create a run and execute it in this process through the same service the Celery task calls."""
    run = services.training_run_start(family=family, trigger=trigger, config=FAST_CONFIG if config is None else config, dispatch=False)
    return services.training_run_execute(run_id=run.pk, worker="inline")


def version_with_metric(run: TrainingRun, value: float) -> ModelVersion:
    """Set a version's primary metric, to drive promotion decisions deterministically."""
    version = run.model_version
    ModelVersion.objects.filter(pk=version.pk).update(primary_value=value)
    version.refresh_from_db()
    return version
