"""The model lifecycle through a real Celery worker process consuming ml_gpu (on CPU here)."""

import time

import pytest
from django.test import Client

from apps.mlops import services
from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import FamilySettings, ModelVersion, RunStatus, TrainingRun, VersionStatus
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_broker")]


def test_admin_retrain_now_runs_on_the_worker_promotes_and_serves(admin_client_: Client, admin_user):
    # Long enough that the test sees the run in progress, short enough for CI.
    FamilySettings.objects.create(family=DEMO_FAMILY, default_config={"epochs": 150, "n_samples": 3000})
    with celery_worker() as worker:
        response = admin_client_.post(
            "/admin/mlops/familysettings/",
            {"action": "retrain_now", "_selected_action": [FamilySettings.objects.get(family=DEMO_FAMILY).pk]},
            follow=True,
        )
        assert response.status_code == 200 and b"queued" in response.content
        run = TrainingRun.objects.get(family=DEMO_FAMILY)
        assert run.trigger == "admin" and run.triggered_by == admin_user

        seen_progress = set()

        def finished() -> bool:
            run.refresh_from_db()
            seen_progress.add(run.progress)
            return run.is_finished

        wait_for(finished, timeout=120, interval=0.05, message=f"run #{run.pk} to finish\n{worker.log()[-3000:]}")
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert any(0 < p < 100 for p in seen_progress), f"never saw the run in progress: {sorted(seen_progress)}"
        assert run.worker == worker.hostname and run.device.startswith("cpu")
        assert len(run.metric_history) == 150

        version = ModelVersion.objects.get(training_run=run)
        assert version.status == VersionStatus.PRODUCTION and version.created_via == "admin"
        served = admin_client_.post(f"/api/v1/models/families/{DEMO_FAMILY}/predict/", {"inputs": [[0.3, -0.2]]}, content_type="application/json")
        assert served.json()["model_version_id"] == version.pk

        # A second version trained by the worker; promoting it switches this (web) process without a restart.
        second_run = services.training_run_start(family=DEMO_FAMILY, trigger="api", config={"epochs": 5})
        wait_for(lambda: TrainingRun.objects.get(pk=second_run.pk).is_finished, timeout=60, message="second run")
        second = ModelVersion.objects.get(training_run_id=second_run.pk)
        if second.status != VersionStatus.PRODUCTION:
            services.model_version_promote(version=second, reason="newer data")
        served = admin_client_.post(f"/api/v1/models/families/{DEMO_FAMILY}/predict/", {"inputs": [[0.3, -0.2]]}, content_type="application/json")
        assert served.json()["model_version_id"] == second.pk and served.json()["version"] == 2


def test_failing_training_on_the_worker_is_marked_failed_with_its_error():
    from tests.testapp.families import FAILING_FAMILY, FAILURE_MESSAGE

    with celery_worker():
        run = services.training_run_start(family=FAILING_FAMILY, trigger="api")
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished, timeout=60, message="failing run")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and FAILURE_MESSAGE in run.error


def test_sigkilled_worker_does_not_leave_the_run_running_and_loses_nothing_else():
    with celery_worker() as worker:
        long_run = services.training_run_start(family=DEMO_FAMILY, trigger="api", config={"epochs": 100_000, "n_samples": 3000})
        queued_behind = services.training_run_start(family=DEMO_FAMILY, trigger="api", config={"epochs": 5})
        wait_for(lambda: TrainingRun.objects.get(pk=long_run.pk).progress > 0, timeout=60, message="the long run to progress")
        worker.kill()
    long_run.refresh_from_db()
    assert long_run.status == RunStatus.RUNNING  # nobody could tell the database: it looks alive for now

    # The beat task runs the reaper every 30 s with a 120 s threshold; here a short threshold stands in for the wait.
    time.sleep(3)
    assert services.training_runs_reap_stale(stale_after_seconds=2) == [long_run.pk]
    long_run.refresh_from_db()
    assert long_run.status == RunStatus.FAILED and "Worker lost" in long_run.error and worker.hostname in long_run.error
    assert TrainingRun.objects.get(pk=queued_behind.pk).status == RunStatus.QUEUED

    # The run queued behind the killed one is still in the broker: a new worker trains it.
    with celery_worker():
        wait_for(lambda: TrainingRun.objects.get(pk=queued_behind.pk).is_finished, timeout=90, message="the queued run")
    queued_behind.refresh_from_db()
    assert queued_behind.status == RunStatus.SUCCEEDED
    assert TrainingRun.objects.get(pk=long_run.pk).status == RunStatus.FAILED  # a redelivery would not revive it
    assert ModelVersion.objects.filter(family=DEMO_FAMILY).count() == 1


def test_an_uploaded_file_is_loaded_and_accepted_by_the_worker_not_the_web_request(operator_client: Client, tmp_path):
    from pathlib import Path

    from tests.apps.mlops.helpers import train_inline

    weights = tmp_path / "demo-weights.pt"
    weights.write_bytes(Path(train_inline().model_version.artifact_uri.removeprefix("file://")).read_bytes())
    with celery_worker(queues="ml_cpu") as worker:
        with open(weights, "rb") as fh:
            response = operator_client.post(f"/api/v1/models/families/{DEMO_FAMILY}/versions/", {"file": fh})
        assert response.status_code == 201 and response.json()["status"] == "checking"
        version_id = response.json()["id"]
        wait_for(
            lambda: ModelVersion.objects.get(pk=version_id).status != VersionStatus.CHECKING,
            timeout=60,
            message=f"the worker to check the upload\n{worker.log()[-3000:]}",
        )
        assert "mlops.check_upload" in worker.log()
    version = ModelVersion.objects.get(pk=version_id)
    assert version.status == VersionStatus.CANDIDATE and version.check_error == ""
