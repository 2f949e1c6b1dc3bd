"""Reads of the recommendations app: served lists, A/B tests and their outcomes, versions' offline metrics."""

from __future__ import annotations

from dataclasses import dataclass

from apps.commerce import selectors as commerce
from apps.mlops.models import ModelVersion
from apps.recommendations.models import ABTest, ServedList, Variant
from ml.metrics.proportions import wilson_interval


def ab_test_active(*, family: str) -> ABTest | None:
    return ABTest.objects.select_related("candidate").filter(family=family, is_active=True).first()


def ab_test_list(*, family: str | None = None) -> list[ABTest]:
    qs = ABTest.objects.select_related("candidate", "started_by")
    return list(qs.filter(family=family) if family else qs)


@dataclass(frozen=True)
class Rate:
    successes: int
    trials: int
    low: float
    high: float

    @property
    def value(self) -> float | None:
        return self.successes / self.trials if self.trials else None


@dataclass(frozen=True)
class VariantOutcome:
    variant: str
    version: ModelVersion | None
    lists: int
    impressions: int
    clicks: int
    purchases: int
    ctr: Rate  # clicks / impressions
    conversion: Rate  # purchases / impressions


def _rate(successes: int, trials: int) -> Rate:
    successes = min(successes, trials)  # a click without a recorded impression still counts once at most
    low, high = wilson_interval(successes, trials)
    return Rate(successes, trials, low, high)


def ab_test_outcomes(*, test: ABTest) -> list[VariantOutcome]:
    """CTR and conversion per arm of ``test`` with 95 % Wilson intervals, from events attributed to its lists."""
    outcomes = []
    for variant in (Variant.PRODUCTION, Variant.CANDIDATE):
        ids = list(ServedList.objects.filter(ab_test=test, variant=variant).values_list("id", flat=True))
        counts = commerce.recommendation_feedback_counts(recommendation_ids=ids) if ids else {}
        impressions = sum(c.get("impression", 0) for c in counts.values())
        clicks = sum(c.get("click", 0) for c in counts.values())
        purchases = sum(c.get("purchase", 0) for c in counts.values())
        version_ids = set(ServedList.objects.filter(ab_test=test, variant=variant).values_list("model_version_id", flat=True).distinct()[:2])
        version = ModelVersion.objects.filter(pk__in=version_ids).first() if len(version_ids) == 1 else None
        if variant == Variant.CANDIDATE:
            version = test.candidate
        outcomes.append(VariantOutcome(variant, version, len(ids), impressions, clicks, purchases, _rate(clicks, impressions), _rate(purchases, impressions)))
    return outcomes


def served_list_get(*, list_id: str) -> ServedList | None:
    return ServedList.objects.select_related("model_version").filter(pk=list_id).first()


def version_metrics_history(*, families: list[str]) -> dict[str, list[dict]]:
    """Offline metrics of every version per family, oldest first, for the charts."""
    out: dict[str, list[dict]] = {f: [] for f in families}
    for v in ModelVersion.objects.filter(family__in=families).order_by("family", "version"):
        out[v.family].append({"version": v.version, "status": v.status, "created_at": v.created_at.isoformat(), "metrics": v.metrics})
    return out
