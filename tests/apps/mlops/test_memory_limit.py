"""Every training run checks its predicted peak memory against ML_MEMORY_LIMIT before it trains."""

import pytest
from django.conf import settings
from django.test import override_settings

from apps.mlops import services
from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.families import all_families
from apps.mlops.models import ModelVersion, RunStatus, TrainingRun
from ml.artifacts import open_store
from ml.memory import MIB
from tests.apps.mlops.helpers import FAST_CONFIG, train_inline

pytestmark = pytest.mark.django_db


def test_every_product_family_predicts_its_memory():
    products = [f for f in all_families() if not f.name.startswith("test.")]
    assert products and all(f.memory_estimate is not None for f in products), [f.name for f in products if f.memory_estimate is None]


@override_settings(ML_MEMORY_LIMIT_BYTES=64 * MIB)
def test_a_run_predicted_over_the_limit_fails_with_what_it_needs_and_registers_nothing(django_capture_on_commit_callbacks):
    store = open_store(settings.ARTIFACT_STORE_URI).root / DEMO_FAMILY
    before = set(store.glob("*")) if store.exists() else set()
    # The real path: the API's service dispatches the Celery task on commit (eager in tests).
    with django_capture_on_commit_callbacks(execute=True):
        run = services.training_run_start(family=DEMO_FAMILY, trigger="api", config=FAST_CONFIG)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.stage == "failed"
    # The message first and alone: what it needs, the limit, what to change; no traceback.
    assert run.error.startswith(f"Training {DEMO_FAMILY} needs about "), run.error
    assert "more than the limit of 64.0 MB (ML_MEMORY_LIMIT)" in run.error and "Lower n_samples or hidden" in run.error
    assert "Traceback" not in run.error and "MemoryBudgetExceeded" not in run.error
    memory = run.data_snapshot["memory"]
    assert memory["limit_bytes"] == 64 * MIB and memory["predicted_peak_bytes"] > 64 * MIB and memory["parts"]["points"] > 0
    assert run.metric_history == [] and not ModelVersion.objects.filter(family=DEMO_FAMILY).exists()
    assert (set(store.glob("*")) if store.exists() else set()) == before  # no artifact was written


def test_a_run_within_the_limit_records_the_prediction_on_the_run_and_its_version():
    run = train_inline()
    assert run.status == RunStatus.SUCCEEDED, run.error
    memory = run.data_snapshot["memory"]
    assert memory["limit_bytes"] == settings.ML_MEMORY_LIMIT_BYTES and 0 < memory["predicted_peak_bytes"] <= memory["limit_bytes"]
    assert run.model_version.data_snapshot["memory"] == memory


def test_the_run_page_shows_the_prediction_and_the_refusal(operator_client):
    with override_settings(ML_MEMORY_LIMIT_BYTES=64 * MIB):
        refused = train_inline()
    ok = train_inline()
    page = operator_client.get(f"/runs/{refused.pk}/").content.decode()
    assert "of the 64.0\xa0MB limit (ML_MEMORY_LIMIT)" in page and f"Training {DEMO_FAMILY} needs about" in page
    assert "predicted peak" in operator_client.get(f"/runs/{ok.pk}/").content.decode()
    assert TrainingRun.objects.filter(status=RunStatus.FAILED).count() == 1
