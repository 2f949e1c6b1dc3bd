"""Reads of the recommendations app: served lists, A/B tests and their outcomes, versions' offline metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.db import connection

from apps.commerce import selectors as commerce
from apps.commerce.models import Customer, Event
from apps.mlops.models import ModelVersion
from apps.recommendations.models import ABTest, PrecomputedRecommendations, ServedList, Variant
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


# --- what serving reads about one customer, in one round trip ---------------------------------------------


@dataclass(frozen=True)
class CustomerSignals:
    """A customer's id (None when the shop never sent them), recent events newest first as (product id, type,
    value), the products they ever bought (when asked), and their precomputed list under a version (when asked)."""

    customer_id: int | None = None
    events: list[tuple[int, str, float | None]] = field(default_factory=list)
    purchased: set[int] = field(default_factory=set)
    precomputed: list | None = None


def _signals_sql() -> str:
    customer, event, pre = Customer._meta.db_table, Event._meta.db_table, PrecomputedRecommendations._meta.db_table
    # Parts: 0 = the customer, 1 = recent events, 2 = purchased products, 3 = the precomputed list.
    # Every part is an indexed lookup: customer.external_id (unique), event (customer, occurred_at),
    # precomputed (model_version, customer_id) (unique).
    return f"""
WITH c AS (SELECT id FROM "{customer}" WHERE external_id = %(external_id)s)
SELECT 0, c.id, NULL::bigint, NULL::text, NULL::double precision, NULL::timestamptz, NULL::bigint, NULL::jsonb FROM c
UNION ALL
(SELECT 1, NULL::bigint, e.product_id, e.type::text, e.value, e.occurred_at, e.id, NULL::jsonb FROM "{event}" e
  WHERE e.customer_id = (SELECT id FROM c) ORDER BY e.occurred_at DESC, e.id DESC LIMIT %(limit)s)
UNION ALL
(SELECT DISTINCT 2, NULL::bigint, e.product_id, NULL::text, NULL::double precision, NULL::timestamptz, NULL::bigint, NULL::jsonb FROM "{event}" e
  WHERE %(purchases)s AND e.customer_id = (SELECT id FROM c) AND e.type = 'purchase')
UNION ALL
(SELECT 3, NULL::bigint, NULL::bigint, NULL::text, NULL::double precision, NULL::timestamptz, NULL::bigint, p.items FROM "{pre}" p
  WHERE p.model_version_id = %(version_id)s AND p.customer_id = (SELECT id FROM c))
"""


_SIGNALS_SQL: str | None = None


def customer_signals(*, external_id: str, limit: int, purchases: bool, precomputed_version_id: int | None = None) -> CustomerSignals:
    """Everything user recommendations read about a customer, in one query (it used to take up to four):
    the customer's id, their ``limit`` most recent events (as ``commerce.customer_history``), the ids of products
    they bought (as ``commerce.customer_product_ids(types=["purchase"])``) when ``purchases``, and their
    precomputed list under ``precomputed_version_id`` when given."""
    if connection.vendor != "postgresql":  # e.g. the SQLite development database: the same reads, one by one
        return _customer_signals_orm(external_id, limit, purchases, precomputed_version_id)
    global _SIGNALS_SQL
    if _SIGNALS_SQL is None:
        _SIGNALS_SQL = _signals_sql()
    params = {"external_id": external_id, "limit": int(limit), "purchases": bool(purchases), "version_id": precomputed_version_id or 0}
    with connection.cursor() as cursor:
        cursor.execute(_SIGNALS_SQL, params)
        rows = cursor.fetchall()
    customer_id, recent, purchased, stored = None, [], set(), None
    for part, cid, product_id, type_, value, occurred_at, event_pk, items in rows:
        if part == 0:
            customer_id = cid
        elif part == 1:
            recent.append((occurred_at, event_pk, product_id, type_, value))
        elif part == 2:
            purchased.add(product_id)
        else:
            stored = json.loads(items) if isinstance(items, str | bytes) else items
    # UNION ALL keeps no order across parts: restore "newest first" (ties broken by id, as the ORM query does).
    recent.sort(key=lambda r: (r[0], r[1]), reverse=True)
    return CustomerSignals(customer_id, [(p, t, v) for _, _, p, t, v in recent], purchased, stored)


def _customer_signals_orm(external_id: str, limit: int, purchases: bool, precomputed_version_id: int | None) -> CustomerSignals:
    events = commerce.customer_history(external_id=external_id, limit=limit)
    if events:
        customer_id = events[0].customer_id
    else:
        customer = commerce.customer_get(external_id=external_id)
        customer_id = customer.id if customer is not None else None
    if customer_id is None:
        return CustomerSignals()
    bought = commerce.customer_product_ids(customer_id=customer_id, types=["purchase"]) if purchases else set()
    stored = None
    if precomputed_version_id is not None:
        qs = PrecomputedRecommendations.objects.filter(model_version_id=precomputed_version_id, customer_id=customer_id)
        stored = qs.values_list("items", flat=True).first()
    return CustomerSignals(customer_id, [(e.product_id, e.type, e.value) for e in events], bought, stored)
