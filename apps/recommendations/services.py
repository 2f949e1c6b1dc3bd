"""Serving recommendations, A/B tests and the batch precompute.

``recommendations_for`` is the public entry point for other apps (the chatbot calls it); the REST API calls
:func:`user_recommendations`, :func:`session_recommendations` and :func:`similar_items`. Every served list is
stored with the model version that produced it, so impressions, clicks and purchases sent back with its id are
attributed to that version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from apps.commerce import selectors as commerce
from apps.core.outages import broker_send
from apps.mlops.models import ModelVersion, VersionStatus
from apps.mlops.serving import model_cache
from apps.recommendations import selectors
from apps.recommendations.catalog import CatalogSnapshot, ProductInfo, catalog_cache
from apps.recommendations.families import MAIN_FAMILY, POPULARITY_FAMILY
from apps.recommendations.models import ABTest, ListKind, PrecomputedRecommendations, ServedList, Variant
from ml.recommenders import Recommendation, RecommenderConfig, RecommenderPredictor
from ml.recommenders.data import EventWeights

logger = logging.getLogger(__name__)

MAX_N = 100
HISTORY_LIMIT = 50
_CACHE_SECONDS = 5.0


class NoRecommendationModel(LookupError):
    """Neither the main family nor the popularity baseline has a production version yet."""


@dataclass(frozen=True)
class RecommendedItem:
    sku: str
    title: str
    price: Decimal | None
    category: str
    score: float
    reason: str
    source: str = ""  # personal, session, content, popular, trending, collaborative


@dataclass(frozen=True)
class RecommendationList:
    id: str  # send it back as `recommendation_id` on impression/click/purchase events
    model_version: str  # e.g. "recommendations.blend v3"
    items: list[RecommendedItem]
    family: str = ""
    variant: str = Variant.PRODUCTION
    unknown_skus: list[str] = field(default_factory=list)


# --- small per-process caches (the model cache itself lives in apps.mlops.serving) ------------------------

_lock = threading.Lock()
_ttl_cache: dict[tuple, tuple[float, Any]] = {}


def _cached(key: tuple, compute, seconds: float = _CACHE_SECONDS):  # noqa: ANN001, ANN202
    now = time.monotonic()
    with _lock:
        hit = _ttl_cache.get(key)
        if hit is not None and now - hit[0] < seconds:
            return hit[1]
    value = compute()
    with _lock:
        _ttl_cache[key] = (now, value)
    return value


def clear_caches() -> None:
    with _lock:
        _ttl_cache.clear()
    catalog_cache.clear()


def _passes(product: ProductInfo | None, in_stock: bool, category: str | None) -> bool:
    return product is not None and (not in_stock or product.in_stock) and (not category or product.category == category)


def _active_test(family: str) -> ABTest | None:
    return _cached(("ab", family), lambda: ABTest.objects.select_related("candidate").filter(family=family, is_active=True).first())


def _event_weights(version: ModelVersion) -> EventWeights:
    def compute() -> EventWeights:
        known = {f for f in RecommenderConfig.__dataclass_fields__}
        return RecommenderConfig(**{k: v for k, v in (version.config or {}).items() if k in known}).event_weights()

    return _cached(("weights", version.pk), compute, seconds=3600)


# --- choosing the version ---------------------------------------------------------------------------------


def ab_bucket(test_id: int, key: str) -> float:
    """A stable number in [0, 1) per (test, customer): the same customer always lands in the same arm."""
    digest = hashlib.sha256(f"{test_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _choose_version(family: str, key: str | None) -> tuple[ModelVersion, str, ABTest | None]:
    production = model_cache.production(family)
    test = _active_test(family) if key else None
    if test is not None and (production is None or test.candidate_id != production.pk) and ab_bucket(test.pk, key) < test.share:
        return test.candidate, Variant.CANDIDATE, test
    if production is not None:
        # Customers outside the candidate's share form the test's production arm.
        return production, Variant.PRODUCTION, test
    fallback = model_cache.production(POPULARITY_FAMILY)
    if fallback is not None:
        return fallback, Variant.PRODUCTION, None
    raise NoRecommendationModel("No recommendation model is trained yet: train recommendations.blend (or the popularity baseline) first.")


def _predictor(version: ModelVersion) -> RecommenderPredictor:
    return model_cache.predictor(version)  # type: ignore[return-value]


def _label(version: ModelVersion) -> str:
    return f"{version.family} v{version.version}"


# --- reasons ----------------------------------------------------------------------------------------------

# "{}" is the product's title.
_DID = {"view": "viewed {}", "add_to_cart": "added {} to your cart", "purchase": "bought {}", "rating": "rated {}"}
_DONE = {"view": "viewed", "add_to_cart": "added to your cart", "purchase": "bought", "rating": "rated"}


def _reason(rec: Recommendation, because_title: str | None, because_type: str | None) -> str:
    if rec.source == "popular":
        return "Popular in the shop"
    if rec.source == "trending":
        return "Trending right now"
    if because_title is None:
        return "Picked for you from what you browsed" if rec.source in ("personal", "session") else "Popular in the shop"
    if rec.source == "content":
        return f"Similar to {because_title}, which you {_DONE.get(because_type or 'view', 'viewed')}"
    if because_type is None:
        return f"Because of your interest in {because_title}"
    return "Because you " + _DID.get(because_type, "viewed {}").format(because_title)


# --- serving ----------------------------------------------------------------------------------------------


def _validate_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise ValidationError({"n": [f"n must be an integer between 1 and {MAX_N}."]})
    return n


def _weigh(events: list[tuple[int, str, float | None]], weights: EventWeights) -> tuple[dict[int, float], dict[int, str]]:
    """Recent events as {product_id: weight} and the strongest event type per product."""
    history: dict[int, float] = {}
    kinds: dict[int, str] = {}
    if not events:
        return history, kinds
    w = weights.of(np.array([e[1] for e in events]), np.array([np.nan if e[2] is None else e[2] for e in events], dtype=np.float64))
    for (product_id, type_, _), weight in zip(events, w.tolist(), strict=True):
        if weight > history.get(product_id, 0.0):
            history[product_id] = weight
            kinds[product_id] = type_
    return history, kinds


def _serve(
    *,
    kind: str,
    customer_external_id: str | None,
    session_skus: Iterable[str] | None,
    session_id: str,
    n: int,
    in_stock: bool,
    category: str | None,
    exclude_purchased: bool,
    record: bool = True,
) -> RecommendationList:
    n = _validate_n(n)
    key = customer_external_id or session_id or None
    version, variant, test = _choose_version(MAIN_FAMILY, key)
    predictor = _predictor(version)
    weights = _event_weights(version)
    catalog = catalog_cache.get()
    # One query: the customer's id, recent events, purchases (when excluded) and precomputed list (user lists).
    signals = (
        selectors.customer_signals(
            external_id=customer_external_id,
            limit=HISTORY_LIMIT,
            purchases=exclude_purchased,
            precomputed_version_id=version.pk if kind == ListKind.USER else None,
        )
        if customer_external_id
        else selectors.CustomerSignals()
    )
    customer_id = signals.customer_id
    history, kinds = _weigh(signals.events, weights)

    unknown: list[str] = []
    skus = [s for s in dict.fromkeys(session_skus or []) if isinstance(s, str) and s]
    if skus:
        found = catalog_cache.products_by_skus(skus)
        unknown = [s for s in skus if s not in found]
        for product in found.values():
            if weights.view > history.get(product.id, 0.0):
                history[product.id] = weights.view
                kinds.setdefault(product.id, "view")

    excluded: set[int] = signals.purchased if exclude_purchased and customer_id is not None else set()

    recs: list[Recommendation] | None = None
    if signals.precomputed is not None:
        by_id = catalog.by_id
        filtered = in_stock or bool(category)
        keep = []
        for p, score, because, source in signals.precomputed:
            if p in excluded or p in history or (filtered and not _passes(by_id.get(p), in_stock, category)):
                continue
            keep.append(Recommendation(item_id=int(p), score=float(score), source=source, because_item_id=None if because is None else int(because)))
            if len(keep) >= n:
                recs = keep
                break
    if recs is None:
        mask = catalog.allowed_mask(version.pk, predictor.model.item_ids, in_stock, category)
        recs = predictor.recommend(user_id=customer_id, history=history, n=n, exclude_item_ids=excluded, allowed_mask=mask)
    return _finish(kind, version, variant, test, recs, kinds, customer_external_id if customer_id is not None else "", session_id, unknown, record, catalog)


def _products(catalog: CatalogSnapshot, ids: set[int]) -> dict[int, ProductInfo]:
    """Catalog rows from the in-process snapshot; ids it does not know yet (created since) from the database."""
    found = {i: catalog.by_id[i] for i in ids if i in catalog.by_id}
    missing = [i for i in ids if i not in found]
    if missing:
        for i, p in commerce.products_by_ids(ids=missing).items():
            found[i] = ProductInfo(p.id, p.sku, p.title, p.price, p.category, p.in_stock)
    return found


_INSERT_SERVED_SQL: str | None = None


def _store_served(
    list_id: str, kind: str, version: ModelVersion, variant: str, test: ABTest | None, customer_external_id: str, session_id: str, skus: list[str]
) -> None:
    """One INSERT of the served list (what ``ServedList.objects.create`` does, without the ORM's per-call work).

    Outside a transaction the INSERT commits asynchronously (``synchronous_commit off`` for that statement only):
    the row is visible to every other session at once — an impression sent back a moment later finds its list —
    but the request does not wait for the WAL flush (~2–3 ms here). A PostgreSQL crash could lose the lists of
    the last fraction of a second; inside a caller's transaction nothing changes.
    """
    if connection.vendor != "postgresql":
        ServedList.objects.create(
            id=list_id,
            kind=kind,
            family=version.family,
            model_version=version,
            variant=variant,
            ab_test=test,
            customer_external_id=customer_external_id,
            session_id=session_id,
            items=skus,
        )
        return
    global _INSERT_SERVED_SQL
    if _INSERT_SERVED_SQL is None:
        table = ServedList._meta.db_table
        _INSERT_SERVED_SQL = (
            f'INSERT INTO "{table}" (id, kind, family, model_version_id, variant, ab_test_id, customer_external_id, session_id, items, created_at) '
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)"
        )
    # Django's PostgreSQL cursors bind client-side, so the two statements go as one simple query: one
    # implicit transaction, to which SET LOCAL applies.
    one_query = not connection.in_atomic_block and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    sql = "SET LOCAL synchronous_commit TO OFF; " + _INSERT_SERVED_SQL if one_query else _INSERT_SERVED_SQL
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                list_id,
                str(kind),
                version.family,
                version.pk,
                str(variant),
                test.pk if test else None,
                customer_external_id,
                session_id,
                json.dumps(skus),
                timezone.now(),
            ],
        )


def _finish(
    kind: str,
    version: ModelVersion,
    variant: str,
    test: ABTest | None,
    recs: list[Recommendation],
    kinds: dict[int, str],
    customer_external_id: str,
    session_id: str,
    unknown: list[str],
    record: bool = True,
    catalog: CatalogSnapshot | None = None,
) -> RecommendationList:
    """Turn model output into catalog items with reasons and store the served list (unless ``record`` is off:
    an operator's preview must not count in A/B statistics)."""
    ids = {r.item_id for r in recs} | {r.because_item_id for r in recs if r.because_item_id is not None}
    products = _products(catalog or catalog_cache.get(), ids)
    items = []
    for rec in recs:
        product = products.get(rec.item_id)
        if product is None:  # deleted from the catalog since training
            continue
        because = products.get(rec.because_item_id) if rec.because_item_id is not None else None
        reason = _reason(rec, because.title if because else None, kinds.get(rec.because_item_id) if because else None)
        items.append(RecommendedItem(product.sku, product.title, product.price, product.category, round(float(rec.score), 6), reason, rec.source))
    if not record:
        return RecommendationList("", _label(version), items, version.family, variant, unknown)
    list_id = f"rec_{uuid.uuid4().hex}"
    _store_served(list_id, kind, version, variant, test, customer_external_id[:64], session_id[:100], [i.sku for i in items])
    return RecommendationList(list_id, _label(version), items, version.family, variant, unknown)


def recommendations_for(
    *,
    customer_external_id: str | None = None,
    session_skus: list[str] | None = None,
    n: int = 5,
    in_stock: bool = True,
    category: str | None = None,
) -> RecommendationList:
    """Recommendations for a customer (by the shop's id) and/or the SKUs of a session, for other apps.

    An unknown customer with no session gets the cold-start list (popular products), never an error. Raises
    ValidationError for a bad ``n`` and :class:`NoRecommendationModel` when nothing is trained yet.
    """
    kind = ListKind.USER if customer_external_id and not session_skus else ListKind.SESSION
    return _serve(
        kind=kind,
        customer_external_id=customer_external_id,
        session_skus=session_skus,
        session_id="",
        n=n,
        in_stock=in_stock,
        category=category,
        exclude_purchased=True,
    )


def user_recommendations(
    *, external_id: str, n: int = 10, exclude_purchased: bool = True, in_stock: bool = False, category: str | None = None, record: bool = True
) -> RecommendationList:
    return _serve(
        record=record,
        kind=ListKind.USER,
        customer_external_id=external_id,
        session_skus=None,
        session_id="",
        n=n,
        in_stock=in_stock,
        category=category,
        exclude_purchased=exclude_purchased,
    )


def session_recommendations(*, skus: list[str], session_id: str = "", n: int = 10, in_stock: bool = False, category: str | None = None) -> RecommendationList:
    return _serve(
        kind=ListKind.SESSION,
        customer_external_id=None,
        session_skus=skus,
        session_id=session_id,
        n=n,
        in_stock=in_stock,
        category=category,
        exclude_purchased=False,
    )


class UnknownProduct(LookupError):
    pass


def similar_items(*, sku: str, n: int = 10, in_stock: bool = False, category: str | None = None, record: bool = True) -> RecommendationList:
    """Products similar to ``sku``: bought/viewed by the same shoppers, or by text for a product without history."""
    n = _validate_n(n)
    product = commerce.product_get(sku=sku)
    if product is None:
        raise UnknownProduct(f"No product with SKU {sku!r}.")
    version, variant, test = _choose_version(MAIN_FAMILY, None)
    predictor = _predictor(version)
    # The filter as a flag per model column, cached per version and filter: no per-product work per request.
    allowed = catalog_cache.get().allowed_mask(version.pk, predictor.model.item_ids, in_stock, category)
    similar = predictor.similar_items(product.id, n, allowed_mask=allowed)
    if not similar:
        texts = commerce.catalog_texts(product_ids=[product.id])
        similar = predictor.similar_to_text(texts[0][1] if texts else product.title, n + 1, allowed_mask=allowed)
        similar = [s for s in similar if s.item_id != product.id][:n]
    recs = [Recommendation(item_id=s.item_id, score=s.score, source=s.source) for s in similar]
    result = _finish(ListKind.SIMILAR, version, variant, None, recs, {}, "", "", [], record)
    reason = {"collaborative": "Often viewed and bought by the same shoppers", "content": f"Similar description to {product.title}"}
    items = [RecommendedItem(i.sku, i.title, i.price, i.category, i.score, reason.get(i.source, i.reason), i.source) for i in result.items]
    return RecommendationList(result.id, result.model_version, items, result.family, result.variant)


# --- A/B tests --------------------------------------------------------------------------------------------


def ab_test_start(*, candidate: ModelVersion, share: float, user: Any = None) -> ABTest:
    """Serve ``share`` of customers with ``candidate``; replaces the family's running test, if any."""
    if candidate.family != MAIN_FAMILY:
        raise ValidationError({"candidate": [f"A/B tests serve {MAIN_FAMILY}; v{candidate.version} belongs to {candidate.family}."]})
    if candidate.status == VersionStatus.PRODUCTION:
        raise ValidationError({"candidate": [f"v{candidate.version} is already in production; choose a candidate version."]})
    if candidate.status in (VersionStatus.CHECKING, VersionStatus.REJECTED):
        # An uploaded file is served only once a worker has loaded it and accepted it.
        raise ValidationError({"candidate": [f"v{candidate.version} is an upload that is {candidate.get_status_display().lower()}; it cannot be served."]})
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ValidationError({"share": ["Share must be a number in (0, 1], e.g. 0.2 for 20 % of customers."]})
    with transaction.atomic():
        ABTest.objects.filter(family=candidate.family, is_active=True).update(is_active=False, ended_at=timezone.now())
        test = ABTest.objects.create(
            family=candidate.family, candidate=candidate, share=float(share), started_by=user if getattr(user, "is_authenticated", False) else None
        )
    clear_caches()
    return test


def ab_test_stop(*, family: str = MAIN_FAMILY) -> int:
    stopped = ABTest.objects.filter(family=family, is_active=True).update(is_active=False, ended_at=timezone.now())
    clear_caches()
    return stopped


# --- batch precompute -------------------------------------------------------------------------------------


# Customers scored and written per batch: one matrix product per batch, one INSERT … ON CONFLICT per batch.
PRECOMPUTE_BATCH = 1000


def active_customer_ids(*, days: int, chunk_size: int | None = None) -> Iterator[list[int]]:
    """Ids of the customers with an event (feedback aside) in the last ``days``, :data:`PRECOMPUTE_BATCH` at a time."""
    return commerce.customer_ids_active_since(since=timezone.now() - timedelta(days=days), chunk_size=chunk_size or PRECOMPUTE_BATCH)


def precompute_for_version(*, version_id: int, n: int | None = None, days: int | None = None) -> int:
    """Store top-N for every customer active in the last ``days`` under ``version_id``; returns how many.

    Streams: customers are read, scored and written :data:`PRECOMPUTE_BATCH` at a time, so memory does not
    grow with the customer base. Idempotent: a rerun overwrites the rows. Rows of the family's other versions
    are deleted once every batch is written (they would never be served again).
    """
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        return 0
    n = n or settings.RECOMMENDATIONS_PRECOMPUTE_N
    days = days or settings.RECOMMENDATIONS_ACTIVE_DAYS
    predictor = _predictor(version)
    stored = 0
    for customer_ids in active_customer_ids(days=days):
        lists = predictor.recommend_for_users(customer_ids, n)
        rows = [
            PrecomputedRecommendations(
                model_version=version, customer_id=customer_id, items=[[r.item_id, round(r.score, 6), r.because_item_id, r.source] for r in recs]
            )
            for customer_id, recs in lists.items()
        ]
        PrecomputedRecommendations.objects.bulk_create(
            rows, batch_size=PRECOMPUTE_BATCH, update_conflicts=True, unique_fields=["model_version", "customer_id"], update_fields=["items", "computed_at"]
        )
        stored += len(rows)
    PrecomputedRecommendations.objects.filter(model_version__family=version.family).exclude(model_version=version).delete()
    logger.info("precomputed top-%s for %s customers under %s", n, stored, _label(version))
    return stored


def precompute_production_if_stale() -> int | None:
    """Dispatch a precompute for the main family's production version when it has none or it is old."""
    version = model_cache.production(MAIN_FAMILY)
    if version is None:
        return None
    latest = PrecomputedRecommendations.objects.filter(model_version=version).order_by("-computed_at").values_list("computed_at", flat=True).first()
    if latest is not None and timezone.now() - latest < timedelta(minutes=settings.RECOMMENDATIONS_PRECOMPUTE_EVERY_MINUTES):
        return None
    from apps.recommendations.tasks import precompute_top_n

    # refresh_precomputed runs again at the next beat: a message the broker could not take is only logged.
    transaction.on_commit(lambda: broker_send(lambda: precompute_top_n.delay(version.pk), what=f"precomputing v{version.pk}", required=False))
    return version.pk
