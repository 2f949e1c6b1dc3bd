"""Celery tasks of traffic monitoring: thin wrappers that take ids and call services."""

from celery import shared_task

from apps.core import webhooks
from apps.traffic import services


@shared_task(name="traffic.process_job", bind=True)
def process_job(self, job_id: int) -> None:  # noqa: ANN001
    # Routed to ml_gpu with long time limits (platform_/settings/base.py). Idempotent: a redelivered message finds
    # the job finished, or running with a fresh heartbeat, and returns; a resumed job starts at its checkpoint.
    services.job_execute(job_id=job_id, worker=self.request.hostname or "")


@shared_task(name="traffic.process_stream", bind=True)
def process_stream(self, job_id: int) -> None:  # noqa: ANN001
    # The same job runner for a live stream session, routed to its own `streams` queue: a session holds its worker
    # slot until it is stopped, and must not starve training and inspection on ml_gpu.
    services.job_execute(job_id=job_id, worker=self.request.hostname or "")


@shared_task(
    name="traffic.send_event_webhooks",
    autoretry_for=(webhooks.WebhookFailed,),
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=8,
)
def send_event_webhooks(event_ids: list[int]) -> None:
    services.event_webhooks_send(event_ids=event_ids)


@shared_task(name="traffic.resume_stale_jobs")
def resume_stale_jobs() -> None:
    services.jobs_resume_stale()
    services.jobs_redispatch_queued()
