"""Recommender training predicts its peak from the shop's sizes and is refused above ML_MEMORY_LIMIT."""

import pytest
from django.test import override_settings

from apps.mlops import services as mlops
from apps.mlops.models import FamilySettings, ModelVersion, RunStatus
from apps.recommendations.families import MAIN_FAMILY, memory_estimate, prepare
from ml.memory import MIB
from ml.recommenders import RecommenderConfig
from tests.apps.recommendations.factories import make_shop

pytestmark = pytest.mark.django_db


def test_prepare_hands_the_limit_to_training_and_the_estimate_follows_the_plan(shop, settings):
    config = RecommenderConfig(content=False)
    dataset, snapshot = prepare(config, None)
    assert dataset.memory_limit == settings.ML_MEMORY_LIMIT_BYTES
    estimate = memory_estimate(config, dataset)
    # Every event counted as a cell: at least the matrix the trainer builds.
    assert estimate.parts["interaction matrix"] >= snapshot["events"] * 8 * 12 > 0
    assert "EASE item-item matrices" in estimate.parts  # a small catalog: dense
    assert "EASE item-item matrices" not in memory_estimate(RecommenderConfig(content=False, scale_strategy="factors"), dataset).parts


def test_a_run_over_the_limit_fails_with_the_plans_message():
    make_shop()
    FamilySettings.objects.create(family=MAIN_FAMILY, default_config={"content": False, "als_members": 1})
    with override_settings(ML_MEMORY_LIMIT_BYTES=64 * MIB):
        run = mlops.training_run_start(family=MAIN_FAMILY, trigger="cli", dispatch=False)
        run = mlops.training_run_execute(run_id=run.pk, worker="test")
    assert run.status == RunStatus.FAILED
    assert run.error.startswith(f"Training {MAIN_FAMILY} needs about ") and "(ML_MEMORY_LIMIT)" in run.error, run.error
    # No EASE head fits 64 MB: the plan falls back to factors, and says what to change for that.
    assert "Lower als_members or als_factors" in run.error and "Traceback" not in run.error
    assert run.data_snapshot["memory"]["limit_bytes"] == 64 * MIB
    assert not ModelVersion.objects.filter(family=MAIN_FAMILY).exists()
