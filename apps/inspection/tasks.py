"""Celery tasks of inspection: thin, id-only, idempotent."""

from celery import shared_task

from apps.core import webhooks
from apps.inspection import services


@shared_task(name="inspection.inspect_pending")
def inspect_pending(image_ids: list[int]) -> int:
    # Routed to ml_gpu. Drains the named images and others waiting, several per forward pass; images already
    # inspected are skipped, so a redelivered message does nothing twice.
    return services.images_inspect(image_ids=[int(i) for i in image_ids])


@shared_task(
    name="inspection.send_callback",
    autoretry_for=(webhooks.WebhookFailed,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
)
def send_callback(image_id: int) -> None:
    services.callback_send(image_id=image_id)


@shared_task(name="inspection.requeue_stale")
def requeue_stale() -> int:
    return services.stale_claims_requeue()
