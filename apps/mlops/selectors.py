"""Reads of the model registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from apps.mlops.families import ModelFamily, all_families
from apps.mlops.models import FamilySettings, ModelVersion, TrainingRun, VersionStatus, WorkerHeartbeat

WORKER_ALIVE_SECONDS = 45


def production_version(*, family: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(family=family, status=VersionStatus.PRODUCTION).first()


def model_version_list(*, family: str | None = None) -> QuerySet[ModelVersion]:
    qs = ModelVersion.objects.select_related("training_run", "created_by")
    return qs.filter(family=family) if family else qs


def training_run_list(*, family: str | None = None) -> QuerySet[TrainingRun]:
    qs = TrainingRun.objects.select_related("triggered_by", "model_version")
    return qs.filter(family=family) if family else qs


@dataclass
class FamilyOverview:
    spec: ModelFamily
    settings: FamilySettings | None
    production: ModelVersion | None
    versions: list[ModelVersion]
    latest_run: TrainingRun | None


def family_overviews(*, product: str | None = None, versions_per_family: int = 20) -> list[FamilyOverview]:
    families = [f for f in all_families() if product is None or f.product == product]
    names = [f.name for f in families]
    settings_by_family = {s.family: s for s in FamilySettings.objects.filter(family__in=names)}
    result = []
    for spec in families:
        versions = list(ModelVersion.objects.filter(family=spec.name).order_by("-version")[:versions_per_family])
        result.append(
            FamilyOverview(
                spec=spec,
                settings=settings_by_family.get(spec.name),
                production=next((v for v in versions if v.status == VersionStatus.PRODUCTION), None) or production_version(family=spec.name),
                versions=versions,
                latest_run=TrainingRun.objects.filter(family=spec.name).first(),
            )
        )
    return result


def workers_alive(*, within_seconds: int = WORKER_ALIVE_SECONDS) -> list[WorkerHeartbeat]:
    cutoff = timezone.now() - timedelta(seconds=within_seconds)
    return list(WorkerHeartbeat.objects.filter(last_seen_at__gte=cutoff).order_by("hostname"))
