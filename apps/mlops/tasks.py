"""Celery tasks of the model registry: thin wrappers that take ids and call services."""

from celery import shared_task

from apps.mlops import services


@shared_task(name="mlops.train_run", bind=True)
def train_run(self, run_id: int) -> None:  # noqa: ANN001
    # Routed to ml_gpu with the training time limits (platform_/settings/base.py). Idempotent: a redelivered
    # message finds the run finished, or running with a fresh heartbeat, and returns.
    services.training_run_execute(run_id=run_id, worker=self.request.hostname or "")


@shared_task(name="mlops.check_upload")
def check_upload(version_id: int) -> None:
    # Routed to ml_cpu with its own time limits (platform_/settings/base.py): the file someone uploaded is loaded
    # here, never in the web process. Idempotent: a version already checked is left alone.
    services.model_version_check_upload(version_id=version_id)


@shared_task(name="mlops.reap_stale_runs")
def reap_stale_runs() -> None:
    services.training_runs_reap_stale()
    services.training_runs_redispatch_queued()
    services.model_versions_redispatch_checks()
    services.model_versions_reject_stale_checks()


@shared_task(name="mlops.start_scheduled_retraining")
def start_scheduled_retraining() -> None:
    services.scheduled_retraining_start_due()
