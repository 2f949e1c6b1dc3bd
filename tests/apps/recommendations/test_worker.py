"""Train → promote → serve through a real Celery worker, then the batch precompute on ml_cpu."""

import pytest
from django.test import Client

from apps.mlops import services as mlops
from apps.mlops.models import FamilySettings, ModelVersion, RunStatus, TrainingRun, VersionStatus
from apps.recommendations import services
from apps.recommendations.families import MAIN_FAMILY
from apps.recommendations.models import PrecomputedRecommendations
from tests.apps.recommendations.factories import make_shop
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_broker")]


def test_worker_trains_promotes_serves_and_precomputes(operator_client: Client):
    make_shop()
    FamilySettings.objects.create(family=MAIN_FAMILY, default_config={"content": False, "als_members": 1})
    url = "/api/v1/recommendations/users/garden-fan-5/?n=5"
    assert operator_client.get(url).status_code == 503  # nothing trained yet

    with celery_worker() as worker:
        run = mlops.training_run_start(family=MAIN_FAMILY, trigger="api")
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished, timeout=120, message=f"training\n{worker.log()[-3000:]}")
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert run.worker == worker.hostname and run.metrics["ndcg@10"] > 0.2 and run.data_snapshot["events"] > 0
        first = ModelVersion.objects.get(training_run=run)
        assert first.status == VersionStatus.PRODUCTION

        body = operator_client.get(url).json()
        assert body["model_version"] == f"{MAIN_FAMILY} v1" and len(body["items"]) == 5

        # The beat task's service finds no precomputed lists for production and dispatches the batch to ml_cpu.
        assert services.precompute_production_if_stale() == first.pk
        wait_for(lambda: PrecomputedRecommendations.objects.filter(model_version=first).count() == 60, timeout=60, message="precompute")

        # A second version trained on the worker and promoted is served by this web process without a restart.
        second_run = mlops.training_run_start(family=MAIN_FAMILY, trigger="api", config={"blend_ease_weight": 0.9})
        wait_for(lambda: TrainingRun.objects.get(pk=second_run.pk).is_finished, timeout=120, message=f"second run\n{worker.log()[-3000:]}")
        second = ModelVersion.objects.get(training_run_id=second_run.pk)
        if second.status != VersionStatus.PRODUCTION:
            mlops.model_version_promote(version=second, reason="newer events")
        assert operator_client.get(url).json()["model_version"] == f"{MAIN_FAMILY} v2"
