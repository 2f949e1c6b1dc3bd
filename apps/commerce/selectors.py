"""Reads of the shop data. Other apps (recommendations, chatbot) read commerce only through these functions.

Single-tenant: every selector reads the one shop this deployment serves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

import numpy as np
from django.db import connection
from django.db.models import Count, Max, Prefetch, Q, QuerySet

from apps.commerce.models import OPEN_RETURN_STATUSES, Customer, Event, EventType, Order, OrderLine, Product, ReturnRequest

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


def catalog_fingerprint() -> tuple:
    """Changes whenever any product changes (one aggregate query): number of products, number in stock, latest update.

    Every service write bumps ``updated_at`` (a new maximum), an insert or delete changes the count, and a stock flag
    flipped by a bare ``QuerySet.update`` the in-stock count. Portable across PostgreSQL and SQLite."""
    row = Product.objects.aggregate(n=Count("id"), in_stock=Count("id", filter=Q(in_stock=True)), latest=Max("updated_at"))
    return (row["n"], row["in_stock"], row["latest"])


def catalog_rows() -> Iterator[tuple]:
    """(sku, title, description, category, price, currency, in_stock, attributes) of every product, by id, streamed."""
    qs = Product.objects.order_by("id").values_list("sku", "title", "description", "category", "price", "currency", "in_stock", "attributes")
    return qs.iterator(chunk_size=_ITERATOR_CHUNK)


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


def return_requests(*, status: str | None = None, open_only: bool = False, customer_external_id: str | None = None) -> QuerySet[ReturnRequest]:
    """Return requests, newest first, with their order line, order, product and customer selected."""
    qs = ReturnRequest.objects.select_related("order_line__order", "order_line__product", "customer").order_by("-created_at", "-id")
    if status:
        qs = qs.filter(status=status)
    if open_only:
        qs = qs.filter(status__in=OPEN_RETURN_STATUSES)
    if customer_external_id is not None:
        qs = qs.filter(customer__external_id=customer_external_id)
    return qs


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


# ``InteractionLog.types`` holds int8 codes into this tuple (-1: a type stored outside it).
EVENT_TYPE_NAMES: tuple[str, ...] = tuple(str(t) for t in EventType.values)
EVENT_TYPE_CODES: dict[str, int] = {name: code for code, name in enumerate(EVENT_TYPE_NAMES)}


@dataclass(frozen=True)
class InteractionLog:
    """Columns of the interaction events, one entry per event, ordered by time."""

    customer_ids: np.ndarray  # int64
    product_ids: np.ndarray  # int64
    types: np.ndarray  # int8: index into type_names, -1 for a type outside it
    values: np.ndarray  # float64, NaN where the event has no value
    timestamps: np.ndarray  # float64, epoch seconds
    type_names: tuple[str, ...] = EVENT_TYPE_NAMES

    def __len__(self) -> int:
        return len(self.customer_ids)

    def type_labels(self) -> np.ndarray:
        """The event types as names ("" for a code outside ``type_names``); for display and tests, not for training."""
        names = np.array([*self.type_names, ""], dtype=object)
        return names[np.where((self.types >= 0) & (self.types < len(self.type_names)), self.types, -1)]


# COPY … (FORMAT binary) rows of interaction_log: five fields, each a 4-byte length then the value, big-endian.
# COALESCE keeps every field non-NULL, so every row has this one width and a block of rows parses in one call.
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("customer_len", ">i4"),
        ("customer", ">i8"),
        ("product_len", ">i4"),
        ("product", ">i8"),
        ("type_len", ">i4"),
        ("type", ">i2"),
        ("value_len", ">i4"),
        ("value", ">f8"),
        ("epoch_len", ">i4"),
        ("epoch", ">f8"),
    ]
)
_COPY_LENGTHS = {"customer_len": 8, "product_len": 8, "type_len": 2, "value_len": 8, "epoch_len": 8}
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_COPY_TRAILER = b"\xff\xff"
# Bytes of COPY data parsed at a time (~75 000 rows): large enough for NumPy to amortise, small next to the result.
_COPY_BLOCK = 4 << 20


_LOG_DTYPES = (np.int64, np.int64, np.int8, np.float64, np.float64)


class _LogColumns:
    """The log's five columns, filled one block of rows at a time.

    Sized up front from a count of the rows: joining blocks at the end would need the columns twice over, and
    the freed blocks mostly stay in the process's heap, so the peak would be about twice the result. Rows that
    arrive between the count and the read grow the columns; rows deleted meanwhile leave the tail unused.
    """

    def __init__(self, capacity: int) -> None:
        self.columns = [np.empty(capacity, dtype=dtype) for dtype in _LOG_DTYPES]
        self.size = 0

    def add(self, customers: np.ndarray, products: np.ndarray, types: np.ndarray, values: np.ndarray, stamps: np.ndarray) -> None:
        n = len(customers)
        if self.size + n > len(self.columns[0]):
            capacity = max(self.size + n, len(self.columns[0]) * 5 // 4)
            self.columns = [np.concatenate([c[: self.size], np.empty(capacity - self.size, dtype=c.dtype)]) for c in self.columns]
        for target, column in zip(self.columns, (customers, products, types, values, stamps), strict=True):
            target[self.size : self.size + n] = column
        self.size += n

    def log(self) -> InteractionLog:
        return InteractionLog(*(c[: self.size] for c in self.columns))


def _add_copy_rows(columns: _LogColumns, data: memoryview | bytes) -> None:
    rows = np.frombuffer(data, dtype=_COPY_ROW)
    if not ((rows["fields"] == 5).all() and all((rows[name] == width).all() for name, width in _COPY_LENGTHS.items())):
        raise ValueError("interaction_log: unexpected row layout in the COPY stream")
    columns.add(rows["customer"], rows["product"], rows["type"], rows["value"], rows["epoch"])


def _interaction_log_copy(where: list[str], params: list[object]) -> InteractionLog:
    """PostgreSQL: one binary COPY, parsed a block of rows at a time — no Python object per event."""
    quote = connection.ops.quote_name
    table = quote(Event._meta.db_table)
    type_code = "CASE type " + " ".join(f"WHEN %s THEN {code}" for code in range(len(EVENT_TYPE_NAMES))) + " ELSE -1 END"
    sql = (
        f"COPY (SELECT customer_id::int8, product_id::int8, ({type_code})::int2, COALESCE(value, 'NaN')::float8, "
        f"extract(epoch FROM occurred_at)::float8 FROM {table} WHERE {' AND '.join(where)} ORDER BY occurred_at, id) "
        "TO STDOUT (FORMAT binary)"
    )
    buffer = bytearray()
    header_done = False
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE {' AND '.join(where)}", params)
        columns = _LogColumns(cursor.fetchone()[0])
        with cursor.cursor.copy(sql, [*EVENT_TYPE_NAMES, *params]) as copy:
            for data in copy:
                buffer += data
                if not header_done:
                    if len(buffer) < 19:
                        continue
                    if bytes(buffer[:11]) != _COPY_SIGNATURE:
                        raise ValueError("interaction_log: not a binary COPY stream")
                    skip = 19 + int.from_bytes(buffer[15:19], "big")
                    if len(buffer) < skip:
                        continue
                    del buffer[:skip]
                    header_done = True
                if len(buffer) >= _COPY_BLOCK:
                    whole = len(buffer) // _COPY_ROW.itemsize * _COPY_ROW.itemsize
                    _add_copy_rows(columns, bytes(buffer[:whole]))
                    del buffer[:whole]
    if not header_done or not buffer.endswith(_COPY_TRAILER) or (len(buffer) - 2) % _COPY_ROW.itemsize:
        raise ValueError("interaction_log: truncated COPY stream")
    _add_copy_rows(columns, bytes(buffer[:-2]))
    return columns.log()


def interaction_log(*, since: datetime | None = None, types: Iterable[str] | None = None) -> InteractionLog:
    """Events that name a customer (anonymous sessions are left out), as numpy columns for training, oldest first.

    ``types=None`` means every type except the recommendation feedback (impression, click); pass ``types`` to choose.
    Memory is the columns themselves (33 bytes an event, sized by a count first) plus one block being parsed:
    20 M events never exist as 20 M Python objects.
    """
    chosen = [str(t) for t in (FEEDBACK_TYPES if types is None else types)]
    if connection.vendor != "postgresql":
        return _interaction_log_iterated(since, chosen, exclude=types is None)
    where, params = ["customer_id IS NOT NULL", "type <> ALL(%s)" if types is None else "type = ANY(%s)"], [chosen]
    if since is not None:
        where.append("occurred_at >= %s")
        params.append(since)
    return _interaction_log_copy(where, params)


def _interaction_log_iterated(since: datetime | None, types: list[str], *, exclude: bool) -> InteractionLog:
    """Any backend: the ORM's chunked iterator, turned into arrays a chunk at a time."""
    qs = Event.objects.filter(customer_id__isnull=False)
    qs = qs.exclude(type__in=types) if exclude else qs.filter(type__in=types)
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    columns = _LogColumns(qs.count())
    rows = qs.order_by("occurred_at", "id").values_list("customer_id", "product_id", "type", "value", "occurred_at").iterator(chunk_size=_ITERATOR_CHUNK)
    while chunk := list(islice(rows, _ITERATOR_CHUNK)):
        customers, products, kinds, values, stamps = zip(*chunk, strict=True)
        columns.add(
            np.array(customers, dtype=np.int64),
            np.array(products, dtype=np.int64),
            np.array([EVENT_TYPE_CODES.get(k, -1) for k in kinds], dtype=np.int8),
            np.array(values, dtype=np.float64),  # None becomes NaN
            np.array([at.timestamp() for at in stamps], dtype=np.float64),
        )
    return columns.log()


def customer_ids_active_since(*, since: datetime, chunk_size: int = _ITERATOR_CHUNK) -> Iterator[list[int]]:
    """Ids of the customers with a training event (not feedback) since ``since``, ascending, a chunk at a time."""
    qs = Event.objects.filter(customer_id__isnull=False, occurred_at__gte=since).exclude(type__in=FEEDBACK_TYPES)
    ids = qs.order_by("customer_id").values_list("customer_id", flat=True).distinct().iterator(chunk_size=chunk_size)
    while chunk := list(islice(ids, chunk_size)):
        yield chunk


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
