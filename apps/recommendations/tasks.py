"""Celery tasks of recommendations (queue ``ml_cpu``: batch scoring is light inference)."""

from __future__ import annotations

from celery import shared_task

from apps.recommendations import services


@shared_task(name="recommendations.precompute_top_n", ignore_result=True)
def precompute_top_n(version_id: int) -> int:
    """Top-N for the active customers under one model version; idempotent (rows are overwritten)."""
    return services.precompute_for_version(version_id=version_id)


@shared_task(name="recommendations.refresh_precomputed", ignore_result=True)
def refresh_precomputed() -> int | None:
    """Beat: precompute for the production version when it changed or its lists are old."""
    return services.precompute_production_if_stale()
