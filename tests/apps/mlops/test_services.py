from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.mlops import services
from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import FamilySettings, ModelVersion, PromotionAction, PromotionEvent, RunStatus, TrainingRun, VersionStatus
from apps.mlops.serving import model_cache
from ml.artifacts import ArtifactIntegrityError
from tests.apps.mlops.helpers import FAST_CONFIG, train_inline, version_with_metric
from tests.testapp.families import FAILING_FAMILY, FAILURE_MESSAGE

pytestmark = pytest.mark.django_db


def test_first_run_registers_a_version_and_promotes_it():
    run = train_inline()
    assert run.status == RunStatus.SUCCEEDED
    assert run.progress == 100 and run.stage == "done"
    assert run.device.startswith("cpu")
    assert run.started_at and run.finished_at and run.finished_at >= run.started_at
    assert [h["epoch"] for h in run.metric_history] == [1, 2, 3]
    version = run.model_version
    assert version.version == 1 and version.status == VersionStatus.PRODUCTION
    assert version.primary_metric == "accuracy" and version.primary_value == run.metrics["accuracy"]
    assert len(version.artifact_sha256) == 64 and version.artifact_size > 0
    assert version.data_snapshot["data_seed"] == run.pk  # fresh data per run, recorded for reproduction
    event = PromotionEvent.objects.get(to_version=version)
    assert event.action == PromotionAction.AUTO and event.from_version is None


def test_candidate_that_does_not_beat_production_stays_candidate():
    first = train_inline()
    version_with_metric(first, 0.99)
    second = train_inline()
    second_version = version_with_metric(second, 0.50)
    # Re-run the decision now that the metric is known to be worse.
    ModelVersion.objects.filter(pk=second_version.pk).update(status=VersionStatus.CANDIDATE)
    services.model_version_consider_promotion(version=second_version)
    second_version.refresh_from_db()
    assert second_version.status == VersionStatus.CANDIDATE
    assert "does not beat production v1" in second_version.promotion_note
    assert ModelVersion.objects.get(family=DEMO_FAMILY, status=VersionStatus.PRODUCTION).version == 1


def test_better_candidate_is_promoted_automatically_and_old_one_archived():
    first = train_inline()
    version_with_metric(first, 0.10)
    second = train_inline()  # even three epochs beat 0.10 accuracy on three balanced classes
    second.model_version.refresh_from_db()
    assert second.model_version.status == VersionStatus.PRODUCTION, second.model_version.promotion_note
    assert ModelVersion.objects.get(pk=first.model_version.pk).status == VersionStatus.ARCHIVED
    assert second.model_version.parent_id == first.model_version.pk  # lineage: trained while v1 served


def test_auto_promotion_can_be_switched_off_per_family():
    train_inline()
    FamilySettings.objects.filter(family=DEMO_FAMILY).update(auto_promote=False)
    ModelVersion.objects.filter(family=DEMO_FAMILY).update(primary_value=0.0)
    run = train_inline()
    run.model_version.refresh_from_db()
    assert run.model_version.status == VersionStatus.CANDIDATE
    assert "Auto-promotion is off" in run.model_version.promotion_note


def test_manual_override_needs_a_reason_and_is_audited(operator):
    version_with_metric(train_inline(), 0.99)
    worse = version_with_metric(train_inline(), 0.20)
    ModelVersion.objects.filter(pk=worse.pk).update(status=VersionStatus.CANDIDATE)
    worse.refresh_from_db()
    with pytest.raises(ValidationError) as excinfo:
        services.model_version_promote(version=worse, user=operator)
    assert "reason" in excinfo.value.message_dict
    services.model_version_promote(version=worse, user=operator, reason="v1 misbehaves on night-shift data")
    event = PromotionEvent.objects.get(to_version=worse)
    assert event.action == PromotionAction.OVERRIDE and event.actor == operator
    assert event.reason == "v1 misbehaves on night-shift data"


def test_promoting_the_production_version_again_is_refused():
    run = train_inline()
    with pytest.raises(ValidationError, match="already in production"):
        services.model_version_promote(version=run.model_version, reason="again")


def test_rollback_restores_the_previous_production_version(operator):
    first = version_with_metric(train_inline(), 0.10)
    second = train_inline().model_version
    assert second.status == VersionStatus.PRODUCTION
    restored = services.model_family_rollback(family=DEMO_FAMILY, user=operator)
    assert restored.pk == first.pk and restored.status == VersionStatus.PRODUCTION
    assert ModelVersion.objects.get(pk=second.pk).status == VersionStatus.ARCHIVED
    assert PromotionEvent.objects.filter(action=PromotionAction.ROLLBACK, actor=operator, to_version=first).exists()


def test_rollback_without_history_is_a_clear_error():
    with pytest.raises(ValidationError, match="no production version"):
        services.model_family_rollback(family=DEMO_FAMILY)
    train_inline()
    with pytest.raises(ValidationError, match="nothing to roll back to"):
        services.model_family_rollback(family=DEMO_FAMILY)


def test_start_rejects_unknown_family_and_bad_config():
    with pytest.raises(ValidationError) as excinfo:
        services.training_run_start(family="nope.model", trigger="api")
    assert "family" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        services.training_run_start(family=DEMO_FAMILY, trigger="api", config={"epochs": "many"})
    assert "epochs must be of type int" in excinfo.value.message_dict["config"][0]
    with pytest.raises(ValidationError):
        services.training_run_start(family=DEMO_FAMILY, trigger="api", config={"learning_rat": 0.1})
    assert not TrainingRun.objects.exists()


def test_family_default_config_is_merged_into_runs():
    FamilySettings.objects.create(family=DEMO_FAMILY, default_config={"hidden": 16})
    run = services.training_run_start(family=DEMO_FAMILY, trigger="api", config={"epochs": 2}, dispatch=False)
    assert run.config["hidden"] == 16 and run.config["epochs"] == 2 and run.config["learning_rate"] == 0.01


def test_a_training_that_raises_fails_with_its_error_text():
    run = train_inline(family=FAILING_FAMILY, config={})
    assert run.status == RunStatus.FAILED
    assert FAILURE_MESSAGE in run.error and run.error.startswith("RuntimeError:")
    assert run.progress == 50 and run.metric_history == [{"epoch": 1.0, "train_loss": 1.0}]
    assert not ModelVersion.objects.filter(family=FAILING_FAMILY).exists()


def test_execute_is_idempotent():
    run = train_inline()
    assert services.training_run_execute(run_id=run.pk) is None  # redelivered message: nothing happens
    assert services.training_run_execute(run_id=999_999) is None  # row gone
    assert ModelVersion.objects.count() == 1


def test_duplicate_delivery_while_running_is_ignored():
    run = services.training_run_start(family=DEMO_FAMILY, trigger="api", config=FAST_CONFIG, dispatch=False)
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=1, heartbeat_at=timezone.now(), worker="other@host")
    assert services.training_run_execute(run_id=run.pk, worker="me@host") is None
    run.refresh_from_db()
    assert run.worker == "other@host" and run.status == RunStatus.RUNNING


def test_cancel_queued_run_is_immediate_and_the_task_then_skips_it(operator):
    run = services.training_run_start(family=DEMO_FAMILY, trigger="api", config=FAST_CONFIG, dispatch=False)
    services.training_run_cancel(run=run, user=operator)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and operator.username in run.error
    assert services.training_run_execute(run_id=run.pk) is None
    with pytest.raises(ValidationError, match="already finished"):
        services.training_run_cancel(run=run)


def test_cancel_running_run_stops_it_at_the_next_progress_report():
    run = services.training_run_start(family=DEMO_FAMILY, trigger="api", config={"epochs": 50, "n_samples": 300}, dispatch=False)
    # Request cancellation the moment training starts, as an operator clicking "Cancel" would.
    original = services._RunProgress.flush

    def flush_then_cancel(self):  # noqa: ANN001
        if self.stage == "training":
            TrainingRun.objects.filter(pk=self.run_id).update(cancel_requested=True)
        original(self)

    services._RunProgress.flush = flush_then_cancel
    try:
        result = services.training_run_execute(run_id=run.pk)
    finally:
        services._RunProgress.flush = original
    assert result.status == RunStatus.CANCELLED and result.progress < 100
    assert not ModelVersion.objects.exists()


def test_reaper_fails_runs_whose_worker_went_silent():
    run = services.training_run_start(family=DEMO_FAMILY, trigger="api", dispatch=False)
    stale = timezone.now() - timedelta(minutes=10)
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=1, heartbeat_at=stale, worker="gpu@dead")
    fresh = services.training_run_start(family=DEMO_FAMILY, trigger="api", dispatch=False)
    TrainingRun.objects.filter(pk=fresh.pk).update(status=RunStatus.RUNNING, attempts=1, heartbeat_at=timezone.now())
    assert services.training_runs_reap_stale() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "Worker lost" in run.error and "gpu@dead" in run.error
    assert TrainingRun.objects.get(pk=fresh.pk).status == RunStatus.RUNNING


def test_scheduled_retraining_starts_due_families_once():
    FamilySettings.objects.create(family=DEMO_FAMILY, retrain_every_minutes=60, default_config=FAST_CONFIG)
    now = timezone.now()
    started = services.scheduled_retraining_start_due(now=now)
    assert [r.trigger for r in started] == ["schedule"]
    assert started[0].status == RunStatus.QUEUED
    # Not due again until the interval has passed, and never while a run is still queued.
    assert services.scheduled_retraining_start_due(now=now + timedelta(minutes=5)) == []
    TrainingRun.objects.update(status=RunStatus.SUCCEEDED)
    assert services.scheduled_retraining_start_due(now=now + timedelta(minutes=30)) == []
    assert len(services.scheduled_retraining_start_due(now=now + timedelta(minutes=61))) == 1


def test_serving_follows_promotions_without_restart():
    first = train_inline().model_version
    version, predictions = model_cache.predict(DEMO_FAMILY, [[0.1, 0.2], [-0.5, 0.4]])
    assert version.pk == first.pk and len(predictions) == 2
    second = version_with_metric(train_inline(), 0.0)
    ModelVersion.objects.filter(pk=second.pk).update(status=VersionStatus.CANDIDATE)
    second.refresh_from_db()
    services.model_version_promote(version=second, reason="test")
    version, _ = model_cache.predict(DEMO_FAMILY, [[0.1, 0.2]])
    assert version.pk == second.pk


def test_serving_refuses_a_tampered_artifact():
    version = train_inline().model_version
    path = version.artifact_uri.removeprefix("file://")
    with open(path, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ArtifactIntegrityError):
        model_cache.predict(DEMO_FAMILY, [[0.0, 0.0]])


def test_admin_lists_every_registered_family_for_retraining(admin_client_):
    response = admin_client_.get("/admin/mlops/familysettings/")
    assert response.status_code == 200
    assert set(FamilySettings.objects.values_list("family", flat=True)) >= {DEMO_FAMILY, FAILING_FAMILY}
