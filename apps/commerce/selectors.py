"""Reads of the shop data. Other apps (recommendations, chatbot) read commerce only through these functions.

Single-tenant: every selector reads the one shop this deployment serves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import connection
from django.db.models import Count, FloatField, Prefetch, Q, QuerySet
from django.db.models.functions import Extract

from apps.commerce.models import Customer, Event, EventType, Order, OrderLine, Product

# Feedback on served recommendation lists: not shopper intent, so training leaves it out unless asked.
FEEDBACK_TYPES = (EventType.IMPRESSION, EventType.CLICK)
# Enough to keep the IN (...) lists under every backend's parameter limit.
_IN_CHUNK = 5000
_ITERATOR_CHUNK = 20000


def _chunks(values: list, size: int = _IN_CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# ----------------------------------------------------------------------------------------------------- catalog


def product_get(*, sku: str) -> Product | None:
    return Product.objects.filter(sku=sku).first()


def products_by_skus(*, skus: Iterable[str]) -> dict[str, Product]:
    unique = list(dict.fromkeys(skus))
    found: dict[str, Product] = {}
    for chunk in _chunks(unique):
        found.update(Product.objects.in_bulk(chunk, field_name="sku"))
    return found


def products_by_ids(*, ids: Iterable[int]) -> dict[int, Product]:
    unique = list(dict.fromkeys(int(i) for i in ids))
    found: dict[int, Product] = {}
    for chunk in _chunks(unique):
        found.update(Product.objects.in_bulk(chunk))
    return found


def product_list(*, category: str | None = None, in_stock: bool | None = None, search: str | None = None) -> QuerySet[Product]:
    """Products ordered by sku; ``search`` matches sku, title or description (case-insensitive)."""
    qs = Product.objects.all()
    if category:
        qs = qs.filter(category=category)
    if in_stock is not None:
        qs = qs.filter(in_stock=in_stock)
    if search:
        qs = qs.filter(Q(sku__icontains=search) | Q(title__icontains=search) | Q(description__icontains=search))
    return qs.order_by("sku")


def category_list() -> list[str]:
    return list(Product.objects.exclude(category="").order_by("category").values_list("category", flat=True).distinct())


def catalog_texts(*, product_ids: Iterable[int] | None = None) -> list[tuple[int, str]]:
    """(product id, "title. category. description") for text embeddings, ordered by id; empty parts are left out."""
    qs = Product.objects.order_by("id").values_list("id", "title", "category", "description")
    rows: list[tuple[int, str, str, str]] = []
    if product_ids is None:
        rows = list(qs.iterator(chunk_size=_ITERATOR_CHUNK))
    else:
        for chunk in _chunks(list(dict.fromkeys(int(i) for i in product_ids))):
            rows.extend(qs.filter(id__in=chunk))
        rows.sort(key=lambda r: r[0])
    return [(pk, ". ".join(p.strip() for p in (title, category, description) if p and p.strip())) for pk, title, category, description in rows]


# --------------------------------------------------------------------------------------------- customers/orders


def customer_get(*, external_id: str) -> Customer | None:
    return Customer.objects.filter(external_id=external_id).first()


def _orders_with_lines() -> QuerySet[Order]:
    return Order.objects.select_related("customer").prefetch_related(Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("id")))


def customer_orders(*, external_id: str, limit: int = 20) -> list[Order]:
    """The customer's orders, newest first, with lines and their products prefetched."""
    return list(_orders_with_lines().filter(customer__external_id=external_id).order_by("-placed_at", "-id")[:limit])


def order_for_customer(*, number: str, external_id: str) -> Order | None:
    """The order only if it belongs to that customer: None for an unknown number and for someone else's order alike,
    so a caller can never learn that an order number exists."""
    if not number or not external_id:
        return None
    return _orders_with_lines().filter(number=number, customer__external_id=external_id).first()


# ------------------------------------------------------------------------------------------------------- events


def customer_history(*, external_id: str, limit: int = 50) -> list[Event]:
    """The customer's events, newest first, with the product selected."""
    return list(Event.objects.filter(customer__external_id=external_id).select_related("product").order_by("-occurred_at", "-id")[:limit])


def customer_product_ids(*, customer_id: int, types: Iterable[str] | None = None) -> set[int]:
    """Ids of the products the customer interacted with (only events of ``types`` when given)."""
    qs = Event.objects.filter(customer_id=customer_id)
    if types is not None:
        qs = qs.filter(type__in=list(types))
    return set(qs.values_list("product_id", flat=True).distinct())


@dataclass(frozen=True)
class InteractionLog:
    """Columns of the interaction events, one entry per event, ordered by time."""

    customer_ids: np.ndarray  # int64
    product_ids: np.ndarray  # int64
    types: np.ndarray  # str (EventType values)
    values: np.ndarray  # float64, NaN where the event has no value
    timestamps: np.ndarray  # float64, epoch seconds

    def __len__(self) -> int:
        return len(self.customer_ids)


def interaction_log(*, since: datetime | None = None, types: Iterable[str] | None = None) -> InteractionLog:
    """Events that name a customer (anonymous sessions are left out), as numpy columns for training, oldest first.

    ``types=None`` means every type except the recommendation feedback (impression, click); pass ``types`` to choose.
    """
    qs = Event.objects.filter(customer_id__isnull=False)
    if types is None:
        qs = qs.exclude(type__in=FEEDBACK_TYPES)
    else:
        qs = qs.filter(type__in=list(types))
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    qs = qs.order_by("occurred_at", "id")
    if connection.vendor == "postgresql":
        # Epoch seconds computed by the database: half the time of converting 10⁵ datetimes in Python.
        qs = qs.annotate(epoch=Extract("occurred_at", "epoch", output_field=FloatField()))
        rows = list(qs.values_list("customer_id", "product_id", "type", "value", "epoch").iterator(chunk_size=_ITERATOR_CHUNK))
    else:
        columns = qs.values_list("customer_id", "product_id", "type", "value", "occurred_at")
        rows = [(c, p, t, v, at.timestamp()) for c, p, t, v, at in columns.iterator(chunk_size=_ITERATOR_CHUNK)]
    customers, products, kinds, values, stamps = zip(*rows, strict=True) if rows else ((), (), (), (), ())
    width = max(len(t) for t in EventType.values)
    return InteractionLog(
        customer_ids=np.array(customers, dtype=np.int64),
        product_ids=np.array(products, dtype=np.int64),
        types=np.array(kinds, dtype=f"<U{width}"),
        values=np.array(values, dtype=np.float64),  # None becomes NaN
        timestamps=np.array(stamps, dtype=np.float64),
    )


def recommendation_feedback_counts(*, recommendation_ids: Iterable[str] | None = None, since: datetime | None = None) -> dict[str, dict[str, int]]:
    """Per served recommendation list: how many impression, click and purchase events answered it."""
    counted = (EventType.IMPRESSION, EventType.CLICK, EventType.PURCHASE)
    qs = Event.objects.exclude(recommendation_id="").filter(type__in=counted)
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    wanted = None if recommendation_ids is None else list(dict.fromkeys(recommendation_ids))
    result: dict[str, dict[str, int]] = {rid: {str(t): 0 for t in counted} for rid in (wanted or [])}
    querysets = [qs] if wanted is None else [qs.filter(recommendation_id__in=chunk) for chunk in _chunks(wanted)]
    for part in querysets:
        for rid, kind, n in part.values_list("recommendation_id", "type").annotate(n=Count("id")).order_by():
            result.setdefault(rid, {str(t): 0 for t in counted})[kind] = n
    return result
