"""Writes of the shop data: bulk, idempotent ingestion from the shop's systems, and single events from other apps.

Policy, the same for the API, the import commands and other apps:

- Each row is validated on its own. Invalid rows are reported (index + reason per field) and skipped; the valid rows
  of the same batch are stored.
- Products, customers and orders are *upserts* keyed by ``sku`` / ``external_id`` / ``number``: a row that changes
  nothing counts as a duplicate, so sending a batch twice reports ``created=0, updated=0, duplicates=N``. A key
  repeated inside one batch: the last row wins and the earlier ones count as duplicates. Optional fields a row
  leaves out keep their stored value on update.
- Events are append-only and keyed by the client's ``event_id``: a resend (in the same batch or any earlier one)
  counts as a duplicate and is never stored twice (a unique constraint guarantees it even under concurrent requests).
- Unknown references: an unknown *customer* (event or order) is created as a stub (``is_stub=True``) that a later
  customer upsert fills in; an unknown *product* SKU rejects the row ("unknown sku …; upsert the product first"),
  because a product without a title or category is useless to recommendations and the chatbot.
- Timestamps are ISO-8601 with a timezone (``2026-03-01T10:00:00Z`` or ``+01:00``); a naive timestamp is rejected
  rather than guessed. Dates (``estimated_delivery``) are ``YYYY-MM-DD``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.commerce.models import OPEN_RETURN_STATUSES, Customer, Event, EventType, Order, OrderLine, OrderStatus, Product, ReturnRequest, ReturnStatus

MAX_BULK_ROWS = 10_000
_WRITE_BATCH = 2000
_IN_CHUNK = 5000
# Clocks of shops' servers drift; an event far in the future is a bug on the sender's side.
_MAX_FUTURE = timedelta(days=1)
_EVENT_TYPES = frozenset(EventType.values)
_ORDER_STATUSES = frozenset(OrderStatus.values)
_email_validator = EmailValidator()
_url_validator = URLValidator(schemes=["http", "https"])


@dataclass
class BulkResult:
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add_error(self, index: int, errors: dict[str, list[str]]) -> None:
        self.errors.append({"index": index, "errors": errors})


# ------------------------------------------------------------------------------------------- field validation
# Plain Python on purpose: a DRF serializer per row is ~20x slower and ingestion must sustain thousands of rows/s.


class _Row:
    """Reads typed fields out of one input row, collecting per-field errors instead of raising."""

    __slots__ = ("data", "errors")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, list[str]] = {}

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def error(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def string(self, key: str, *, max_length: int, required: bool = False, default: str = "") -> str:
        value = self.data.get(key)
        if value is None:
            if required:
                self.error(key, "This field is required.")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.error(key, "Expected a string.")
            return default
        text = str(value).strip()
        if required and not text:
            self.error(key, "This field may not be blank.")
        elif "\x00" in text:  # PostgreSQL text cannot hold NUL: refused here, not a 500 at the INSERT
            self.error(key, "Null characters are not allowed.")
        elif len(text) > max_length:
            self.error(key, f"At most {max_length} characters (got {len(text)}).")
        return text

    def decimal(self, key: str, *, default: Decimal | None = None, minimum: Decimal | None = Decimal(0)) -> Decimal | None:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            self.error(key, "Expected a number.")
            return default
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.error(key, f"Expected a number, got {value!r}.")
            return default
        if not number.is_finite():
            self.error(key, "Expected a finite number.")
            return default
        if minimum is not None and number < minimum:
            self.error(key, f"Must be at least {minimum}.")
            return default
        if abs(number) >= Decimal(10) ** 10:
            self.error(key, "Too large (at most 10 digits before the decimal point).")
            return default
        return number.quantize(Decimal("0.01"))

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            self.error(key, "Expected a number.")
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.error(key, f"Expected a number, got {value!r}.")
            return None
        if not math.isfinite(number):
            self.error(key, "Expected a finite number.")
            return None
        return number

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        self.error(key, f"Expected true or false, got {value!r}.")
        return default

    def mapping(self, key: str) -> dict:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(key, "Expected an object.")
            return {}
        if "\\u0000" in json.dumps(value):  # PostgreSQL jsonb cannot hold NUL either
            self.error(key, "Null characters are not allowed.")
            return {}
        return value

    def timestamp(self, key: str, *, required: bool = False) -> datetime | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                self.error(key, "This field is required.")
            return None
        if not isinstance(value, str):
            self.error(key, "Expected an ISO-8601 timestamp string, e.g. 2026-03-01T10:00:00Z.")
            return None
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            self.error(key, f"Not an ISO-8601 timestamp: {value!r} (e.g. 2026-03-01T10:00:00Z).")
            return None
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.error(key, f"Timestamp {value!r} has no timezone; add one, e.g. 'Z' for UTC or '+01:00'.")
            return None
        return moment

    def day(self, key: str) -> date | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.error(key, f"Not a date: {value!r} (expected YYYY-MM-DD).")
            return None


def _currency(row: _Row) -> str:
    currency = row.string("currency", max_length=100).upper()
    if len(currency) != 3 or not currency.isalpha():
        row.error("currency", "Expected a 3-letter ISO 4217 code such as EUR.")
    return currency


def _check_rows(rows: Any) -> list:
    if not isinstance(rows, list):
        raise ValidationError({"rows": ["Expected a list of objects."]})
    if len(rows) > MAX_BULK_ROWS:
        raise ValidationError({"rows": [f"At most {MAX_BULK_ROWS} rows per call (got {len(rows)}); split the batch."]})
    return rows


def _not_an_object(result: BulkResult, index: int) -> None:
    result.add_error(index, {"non_field_errors": ["Expected an object."]})


def _parse_rows(rows: Any, parse: Callable[[_Row], tuple]) -> tuple[BulkResult, list[tuple]]:
    """Validate each row on its own: errors are recorded by row index, valid rows come back as (index, *parsed)."""
    rows = _check_rows(rows)
    result = BulkResult()
    parsed = []
    for index, data in enumerate(rows):
        if not isinstance(data, dict):
            _not_an_object(result, index)
            continue
        row = _Row(data)
        values = parse(row)
        if row.errors:
            result.add_error(index, row.errors)
        else:
            parsed.append((index, *values))
    return result, parsed


def _chunks(values: list, size: int = _IN_CHUNK):  # noqa: ANN202
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _in_bulk(model: type, keys: list[str], field_name: str) -> dict:
    found: dict = {}
    for chunk in _chunks(keys):
        found.update(model.objects.in_bulk(chunk, field_name=field_name))
    return found


def _collapse(parsed: list[tuple[int, str, dict]], result: BulkResult) -> dict[str, dict]:
    """Keyed rows of one batch: a key repeated in the batch keeps its last row, the earlier ones are duplicates."""
    by_key: dict[str, dict] = {}
    for _, key, values in parsed:
        if key in by_key:
            result.duplicates += 1
        by_key[key] = values
    return by_key


def _write(model: type, key_field: str, created: list, updated: list, fields: list[str]) -> None:
    """New rows with ``INSERT … ON CONFLICT (key) DO UPDATE`` (a concurrent request creating the same key between our
    read and our write cannot fail the batch), changed rows with one UPDATE per chunk."""
    for chunk in _chunks(created, _WRITE_BATCH):
        model.objects.bulk_create(chunk, update_conflicts=True, unique_fields=[key_field], update_fields=fields)
    if updated:
        model.objects.bulk_update(updated, fields, batch_size=500)


def _upsert(model: type, key_field: str, by_key: dict[str, dict], result: BulkResult) -> None:
    """Create or update ``model`` rows from ``{key: {field: value}}``; rows that change nothing count as duplicates."""
    existing = _in_bulk(model, list(by_key), key_field)
    now = timezone.now()
    created, updated = [], []
    for key, values in sorted(by_key.items()):  # one lock order for concurrent batches: no deadlocks
        current = existing.get(key)
        if current is None:
            created.append(model(**{key_field: key, **values}, updated_at=now))
        elif any(getattr(current, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(current, name, value)
            current.updated_at = now
            updated.append(current)
        else:
            result.duplicates += 1
    fields = [f.name for f in model._meta.concrete_fields if f.name not in ("id", key_field, "created_at")]
    _write(model, key_field, created, updated, fields)
    result.created += len(created)
    result.updated += len(updated)


# ---------------------------------------------------------------------------------------------------- products


def _parse_product(row: _Row) -> tuple[str, dict]:
    sku = row.string("sku", max_length=64, required=True)
    values: dict[str, Any] = {"title": row.string("title", max_length=300, required=True)}
    if row.has("description"):
        values["description"] = row.string("description", max_length=20000)
    if row.has("category"):
        values["category"] = row.string("category", max_length=120)
    if "price" in row.data:
        values["price"] = row.decimal("price")
    if row.has("currency"):
        values["currency"] = _currency(row)
    if row.has("in_stock"):
        values["in_stock"] = row.boolean("in_stock", default=True)
    if row.has("attributes"):
        values["attributes"] = row.mapping("attributes")
    if row.has("image_url"):
        url = row.string("image_url", max_length=500)
        if url:
            try:
                _url_validator(url)
            except ValidationError:
                row.error("image_url", "Enter a valid http(s) URL.")
        values["image_url"] = url
    return sku, values


def product_upsert_many(*, rows: list[dict]) -> BulkResult:
    """Create or update products by ``sku`` (``title`` required; description, category, price, currency, in_stock,
    attributes, image_url optional)."""
    result, parsed = _parse_rows(rows, _parse_product)
    with transaction.atomic():
        _upsert(Product, "sku", _collapse(parsed, result), result)
    return result


# --------------------------------------------------------------------------------------------------- customers


def _parse_customer(row: _Row) -> tuple[str, dict]:
    external_id = row.string("external_id", max_length=64, required=True)
    values: dict[str, Any] = {"is_stub": False}
    if row.has("email"):
        email = row.string("email", max_length=254)
        if email:
            try:
                _email_validator(email)
            except ValidationError:
                row.error("email", f"Not an email address: {email!r}.")
        values["email"] = email
    if row.has("name"):
        values["name"] = row.string("name", max_length=200)
    if row.has("attributes"):
        values["attributes"] = row.mapping("attributes")
    return external_id, values


def customer_upsert_many(*, rows: list[dict]) -> BulkResult:
    """Create or update customers by ``external_id`` (email, name, attributes optional). Upserting a stub customer
    (created earlier by an event or order) completes it: ``is_stub`` becomes false."""
    result, parsed = _parse_rows(rows, _parse_customer)
    with transaction.atomic():
        _upsert(Customer, "external_id", _collapse(parsed, result), result)
    return result


def _customer_ids(external_ids: set[str]) -> dict[str, int]:
    """Ids of the customers by external id; unknown ones are created as stubs (safe under concurrent requests)."""
    wanted = sorted(external_ids)
    ids: dict[str, int] = {}
    for chunk in _chunks(wanted):
        ids.update(Customer.objects.filter(external_id__in=chunk).values_list("external_id", "id"))
    missing = [e for e in wanted if e not in ids]
    if missing:
        Customer.objects.bulk_create([Customer(external_id=e, is_stub=True) for e in missing], batch_size=_WRITE_BATCH, ignore_conflicts=True)
        for chunk in _chunks(missing):
            ids.update(Customer.objects.filter(external_id__in=chunk).values_list("external_id", "id"))
    return ids


def _product_ids(skus: set[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _chunks(sorted(skus)):
        ids.update(Product.objects.filter(sku__in=chunk).values_list("sku", "id"))
    return ids


def _unknown_sku(sku: str) -> str:
    return f"unknown sku {sku!r}; upsert the product first."


# ------------------------------------------------------------------------------------------------------ orders


def _parse_order(row: _Row) -> tuple[str, dict, list[dict]]:
    number = row.string("number", max_length=64, required=True)
    values: dict[str, Any] = {"customer_external_id": row.string("customer_external_id", max_length=64, required=True)}
    if row.has("status"):
        status = row.string("status", max_length=16)
        if status not in _ORDER_STATUSES:
            row.error("status", f"Unknown status {status!r}; one of {', '.join(sorted(_ORDER_STATUSES))}.")
        values["status"] = status
    values["placed_at"] = row.timestamp("placed_at", required=True)
    if row.has("total"):
        values["total"] = row.decimal("total")
    if row.has("currency"):
        values["currency"] = _currency(row)
    if row.has("carrier"):
        values["carrier"] = row.string("carrier", max_length=60)
    if row.has("tracking_number"):
        values["tracking_number"] = row.string("tracking_number", max_length=100)
    if "estimated_delivery" in row.data:
        values["estimated_delivery"] = row.day("estimated_delivery")

    lines: list[dict] = []
    raw_lines = row.data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        row.error("lines", "Expected a non-empty list of lines ({sku, quantity, unit_price}).")
        return number, values, lines
    for i, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            row.error("lines", f"Line {i}: expected an object.")
            continue
        line = _Row(raw)
        sku = line.string("sku", max_length=64, required=True)
        quantity = raw.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            line.error("quantity", "Expected a whole number of at least 1.")
        unit_price = line.decimal("unit_price")
        for name, messages in line.errors.items():
            row.error("lines", f"Line {i} {name}: {' '.join(messages)}")
        lines.append({"sku": sku, "quantity": quantity, "unit_price": unit_price})
    return number, values, lines


def order_upsert_many(*, rows: list[dict]) -> BulkResult:
    """Create or update orders by ``number`` with their lines (which replace the stored lines on update).

    Row: number, customer_external_id, placed_at (required); status, total (default: sum of the lines), currency,
    carrier, tracking_number, estimated_delivery; lines: [{sku, quantity (default 1), unit_price (default: the
    product's price)}]. Unknown customer → stub; unknown sku → the row is rejected."""
    result, parsed = _parse_rows(rows, _parse_order)

    products = _in_bulk(Product, sorted({line["sku"] for *_, lines in parsed for line in lines}), "sku")
    known = []
    for index, number, values, lines in parsed:
        unknown = sorted({line["sku"] for line in lines if line["sku"] not in products})
        if unknown:
            result.add_error(index, {"lines": [_unknown_sku(sku) for sku in unknown]})
            continue
        for line in lines:
            product = products[line["sku"]]
            line["product_id"] = product.pk
            if line["unit_price"] is None:
                line["unit_price"] = product.price or Decimal("0.00")
        if "total" not in values or values["total"] is None:
            values["total"] = sum((line["unit_price"] * line["quantity"] for line in lines), Decimal("0.00"))
        known.append((index, number, {**values, "lines": lines}))

    with transaction.atomic():
        by_number = _collapse([(i, n, v) for i, n, v in known], result)
        customers = _customer_ids({v["customer_external_id"] for v in by_number.values()})
        existing = _in_bulk(Order, list(by_number), "number")
        stored_lines: dict[int, list[tuple]] = {}
        for line in OrderLine.objects.filter(order_id__in=[o.pk for o in existing.values()]).order_by("id"):
            stored_lines.setdefault(line.order_id, []).append((line.product_id, line.quantity, line.unit_price))

        now = timezone.now()
        created: list[Order] = []
        updated: list[Order] = []
        new_lines: dict[str, list[dict]] = {}
        for number, values in sorted(by_number.items()):  # one lock order for concurrent batches
            lines = values.pop("lines")
            values["customer_id"] = customers[values.pop("customer_external_id")]
            line_keys = [(line["product_id"], line["quantity"], line["unit_price"]) for line in lines]
            current = existing.get(number)
            if current is None:
                created.append(Order(number=number, **values, updated_at=now))
            elif any(getattr(current, k) != v for k, v in values.items()) or stored_lines.get(current.pk, []) != line_keys:
                for k, v in values.items():
                    setattr(current, k, v)
                current.updated_at = now
                updated.append(current)
            else:
                result.duplicates += 1
                continue
            new_lines[number] = lines
        _write(Order, "number", created, updated, [f.name for f in Order._meta.concrete_fields if f.name not in ("id", "number")])
        result.created += len(created)
        result.updated += len(updated)
        order_ids: dict[str, int] = {}
        for chunk in _chunks(list(new_lines)):
            order_ids.update(Order.objects.filter(number__in=chunk).values_list("number", "id"))
        OrderLine.objects.filter(order_id__in=list(order_ids.values())).delete()
        OrderLine.objects.bulk_create(
            [
                OrderLine(order_id=order_ids[number], product_id=line["product_id"], quantity=line["quantity"], unit_price=line["unit_price"])
                for number, lines in new_lines.items()
                for line in lines
            ],
            batch_size=_WRITE_BATCH,
        )
    result.errors.sort(key=lambda e: e["index"])
    return result


# ------------------------------------------------------------------------------------------------------ events


def _parse_event(row: _Row, now: datetime) -> tuple[str, dict]:
    event_id = row.string("event_id", max_length=100, required=True)
    kind = row.string("type", max_length=16, required=True)
    if kind and kind not in _EVENT_TYPES:
        row.error("type", f"Unknown event type {kind!r}; one of {', '.join(EventType.values)}.")
    sku = row.string("sku", max_length=64, required=True)
    customer = row.string("customer_external_id", max_length=64)
    session = row.string("session_id", max_length=100)
    if not customer and not session:
        row.error("customer_external_id", "Give customer_external_id, or session_id for an anonymous shopper.")
    value = row.number("value")
    if kind == EventType.RATING:
        if value is None:
            row.error("value", "A rating needs a value from 0 to 5.")
        elif not 0 <= value <= 5:
            row.error("value", f"A rating is from 0 to 5 (got {value:g}).")
    elif value is not None and value < 0:
        row.error("value", "Must be at least 0.")
    occurred_at = row.timestamp("occurred_at") or now
    if occurred_at > now + _MAX_FUTURE:
        row.error("occurred_at", f"{occurred_at.isoformat()} is more than a day in the future; check the sender's clock.")
    values = {
        "type": kind,
        "sku": sku,
        "customer": customer,
        "session_id": session,
        "value": value,
        "occurred_at": occurred_at,
        "recommendation_id": row.string("recommendation_id", max_length=64),
    }
    return event_id, values


EVENT_COLUMNS = ("event_id", "type", "customer_id", "session_id", "product_id", "value", "occurred_at", "recommendation_id", "received_at")
_EVENT_PG_TYPES = ("varchar", "varchar", "bigint", "varchar", "bigint", "float8", "timestamptz", "varchar", "timestamptz")


def insert_event_rows(events: list[tuple]) -> int:
    """Insert already-validated event rows (tuples in `EVENT_COLUMNS` order), skipping any event_id already stored;
    returns how many were new. Used by `event_ingest_many` and the demo seeder; other callers go through those.

    The unique constraint on event_id keeps one copy even when concurrent requests carry the same event. On
    PostgreSQL one ``INSERT … SELECT unnest(…) ON CONFLICT DO NOTHING`` per chunk reports exactly how many rows it
    inserted (so counts stay right under concurrency) and is about twice as fast as ``bulk_create``; elsewhere
    ``bulk_create(ignore_conflicts=True)`` (then a concurrent duplicate would be counted as created, never stored twice).
    """
    if not events:
        return 0
    if connection.vendor != "postgresql":
        Event.objects.bulk_create([Event(**dict(zip(EVENT_COLUMNS, row, strict=True))) for row in events], batch_size=_WRITE_BATCH, ignore_conflicts=True)
        return len(events)
    arrays = ", ".join(f"%s::{kind}[]" for kind in _EVENT_PG_TYPES)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(Event._meta.db_table)} ({', '.join(EVENT_COLUMNS)}) "
        f"SELECT * FROM unnest({arrays}) ON CONFLICT (event_id) DO NOTHING"
    )
    inserted = 0
    with connection.cursor() as cursor:
        for chunk in _chunks(events, _IN_CHUNK):
            cursor.execute(sql, [list(column) for column in zip(*chunk, strict=True)])
            inserted += cursor.rowcount
    return inserted


def event_ingest_many(*, rows: list[dict]) -> BulkResult:
    """Store interaction events keyed by the client's ``event_id``; resends count as duplicates.

    Row: event_id, type, sku (required); customer_external_id or session_id; value (rating 0–5 required for
    ``rating``; quantity for purchase/add_to_cart); occurred_at (ISO-8601 with timezone, default: now);
    recommendation_id (the served list this event answers)."""
    now = timezone.now()
    result, valid = _parse_rows(rows, lambda row: _parse_event(row, now))
    parsed: list[tuple[int, str, dict]] = []
    seen: set[str] = set()
    for index, event_id, values in valid:
        if event_id in seen:
            result.duplicates += 1  # resent inside the same batch: the first one counts
        else:
            seen.add(event_id)
            parsed.append((index, event_id, values))
    if not parsed:
        return result

    stored: set[str] = set()
    for chunk in _chunks([event_id for _, event_id, _ in parsed]):
        stored.update(Event.objects.filter(event_id__in=chunk).values_list("event_id", flat=True))
    # Sorted by event_id: concurrent batches with overlapping ids then take the unique-index locks in one order.
    fresh = sorted((p for p in parsed if p[1] not in stored), key=lambda p: p[1])
    result.duplicates += len(parsed) - len(fresh)
    if not fresh:
        return result

    products = _product_ids({values["sku"] for *_, values in fresh})
    with transaction.atomic():
        customers = _customer_ids({values["customer"] for *_, values in fresh if values["customer"] and values["sku"] in products})
        events: list[tuple] = []
        for index, event_id, values in fresh:
            product_id = products.get(values["sku"])
            if product_id is None:
                result.add_error(index, {"sku": [_unknown_sku(values["sku"])]})
                continue
            customer_id = customers[values["customer"]] if values["customer"] else None
            v = values
            events.append((event_id, v["type"], customer_id, v["session_id"], product_id, v["value"], v["occurred_at"], v["recommendation_id"], now))
        inserted = insert_event_rows(events)
        result.created += inserted
        # Stored by a concurrent request between our read and our insert: a duplicate all the same.
        result.duplicates += len(events) - inserted
    result.errors.sort(key=lambda e: e["index"])
    return result


def event_record(
    *,
    type: str,  # noqa: A002 — the field's name in the API and the model
    sku: str,
    customer_external_id: str | None = None,
    session_id: str = "",
    recommendation_id: str = "",
    value: float | None = None,
    event_id: str | None = None,
) -> Event:
    """Record one event now (e.g. the chatbot records a click on a recommendation). Raises ValidationError on bad
    input; a repeated ``event_id`` returns the stored event."""
    event_id = event_id or f"evt-{uuid.uuid4().hex}"
    row = {
        "event_id": event_id,
        "type": type,
        "sku": sku,
        "customer_external_id": customer_external_id,
        "session_id": session_id,
        "recommendation_id": recommendation_id,
        "value": value,
    }
    result = event_ingest_many(rows=[row])
    if result.errors:
        raise ValidationError(result.errors[0]["errors"])
    return Event.objects.select_related("product", "customer").get(event_id=event_id)


# ----------------------------------------------------------------------------------------------------- retention

PRUNE_BATCH = 10_000


def event_prune(
    *, before: datetime, types: Iterable[str] | None = None, anonymous_only: bool = False, dry_run: bool = False, batch_size: int = PRUNE_BATCH
) -> int:
    """Delete events that occurred before ``before`` (only of ``types`` / only anonymous ones, when given); returns how many.

    Deletes ``batch_size`` rows per statement, each its own transaction (outside a caller's atomic block): row locks and the WAL of one
    statement stay small, ingestion is never blocked for long, and autovacuum can reclaim the space between
    batches. ``dry_run`` only counts.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    qs = Event.objects.filter(occurred_at__lt=before)
    if types is not None:
        qs = qs.filter(type__in=list(types))
    if anonymous_only:
        qs = qs.filter(customer_id__isnull=True)
    if dry_run:
        return qs.count()
    deleted, floor = 0, None
    while True:
        # Oldest first, and never below the last batch's newest: each batch starts where the previous one ended
        # instead of stepping over the index entries of the rows already deleted (dead until the next VACUUM).
        page = qs if floor is None else qs.filter(occurred_at__gte=floor)
        rows = list(page.order_by("occurred_at").values_list("id", "occurred_at")[:batch_size])
        if not rows:
            return deleted
        # Nothing references an event and no signal listens: one DELETE … WHERE id IN (…), committed on its own.
        deleted += Event.objects.filter(id__in=[pk for pk, _ in rows]).delete()[0]
        floor = rows[-1][1]


# ------------------------------------------------------------------------------------------------------ returns


@dataclass(frozen=True)
class ReturnEligibility:
    """Whether an order line can be sent back now, and why not. ``code`` is one of: ok, not_shipped, in_transit,
    window_closed, already_requested, closed (cancelled or returned order)."""

    eligible: bool
    code: str
    message: str
    delivered_on: date | None = None
    deadline: date | None = None
    open_request: ReturnRequest | None = None


def _delivered_on(order: Order) -> date:
    # Orders carry no delivery timestamp: the shop's estimated delivery date stands for it once the order is
    # delivered (the carrier's scan updates it in most shop systems), else the day the order was last updated.
    return order.estimated_delivery or timezone.localdate(order.updated_at)


def return_eligibility(*, line: OrderLine, today: date | None = None) -> ReturnEligibility:
    """The shop's return policy (``SHOP_RETURN_WINDOW_DAYS`` days from delivery) applied to one order line."""
    today = today or timezone.localdate()
    order = line.order
    days = settings.SHOP_RETURN_WINDOW_DAYS
    open_request = ReturnRequest.objects.filter(order_line=line, status__in=OPEN_RETURN_STATUSES).first()
    if open_request is not None:
        return ReturnEligibility(
            False,
            "already_requested",
            f"A return for this item is already {open_request.get_status_display().lower()} (request {open_request.pk}).",
            open_request=open_request,
        )
    if order.status in (OrderStatus.PENDING, OrderStatus.PAID):
        return ReturnEligibility(False, "not_shipped", f"Order {order.number} has not shipped yet, so it can still be cancelled instead of returned.")
    if order.status == OrderStatus.SHIPPED:
        return ReturnEligibility(False, "in_transit", f"Order {order.number} is on its way. Once it has arrived you have {days} days to return it.")
    if order.status != OrderStatus.DELIVERED:
        return ReturnEligibility(False, "closed", f"Order {order.number} is {order.get_status_display().lower()}; there is nothing left to return.")
    delivered = _delivered_on(order)
    deadline = delivered + timedelta(days=days)
    if today > deadline:
        return ReturnEligibility(
            False,
            "window_closed",
            f"Order {order.number} was delivered on {delivered:%d %b %Y}; the {days}-day return window closed on {deadline:%d %b %Y}.",
            delivered,
            deadline,
        )
    return ReturnEligibility(
        True, "ok", f"You can return it until {deadline:%d %b %Y} ({days} days from delivery on {delivered:%d %b %Y}).", delivered, deadline
    )


def return_request_open(
    *, customer_external_id: str, order_line_id: int, reason: str = "", channel: str = "chat", reference: str = "", quantity: int | None = None
) -> tuple[ReturnRequest, ReturnEligibility]:
    """Open a return request for the customer's own order line when the policy allows it.

    Returns the request and the eligibility it was opened under. Raises ValidationError when the line is not the
    customer's (same message as a missing one) or the policy refuses it; asking twice returns the open request."""
    line = (
        OrderLine.objects.select_related("order", "order__customer", "product")
        .filter(pk=order_line_id, order__customer__external_id=customer_external_id)
        .first()
    )
    if line is None:
        raise ValidationError({"order_line": ["No such order line on this customer's orders."]})
    with transaction.atomic():
        Order.objects.select_for_update().filter(pk=line.order_id).first()  # one opener at a time per order
        eligibility = return_eligibility(line=line)
        if eligibility.code == "already_requested" and eligibility.open_request is not None:
            return eligibility.open_request, eligibility
        if not eligibility.eligible:
            raise ValidationError({"order_line": [eligibility.message]})
        wanted = line.quantity if quantity is None else quantity
        if not 1 <= wanted <= line.quantity:
            raise ValidationError({"quantity": [f"Must be between 1 and {line.quantity} (the quantity ordered)."]})
        request = ReturnRequest(
            order_line=line,
            customer=line.order.customer,
            quantity=wanted,
            reason=str(reason)[:500],
            channel=str(channel)[:20],
            reference=str(reference)[:64],
            deadline=eligibility.deadline,
        )
        request.full_clean()
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError:  # opened by a concurrent call a moment ago
            request = ReturnRequest.objects.get(order_line=line, status__in=OPEN_RETURN_STATUSES)
    return request, eligibility


RETURN_TRANSITIONS = {
    ReturnStatus.REQUESTED: (ReturnStatus.APPROVED, ReturnStatus.REJECTED, ReturnStatus.WITHDRAWN),
    ReturnStatus.APPROVED: (ReturnStatus.REFUNDED, ReturnStatus.REJECTED, ReturnStatus.WITHDRAWN),
}


def return_request_decide(*, request_id: int, status: str, decided_by: str = "", note: str = "") -> ReturnRequest:
    """Move a return request on (approve, reject, refund, withdraw); only the transitions above are allowed."""
    with transaction.atomic():
        request = ReturnRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None:
            raise ValidationError({"return_request": ["No such return request."]})
        allowed = RETURN_TRANSITIONS.get(request.status, ())
        if status not in allowed:
            choices = ", ".join(allowed) or "none (it is closed)"
            raise ValidationError({"status": [f"A {request.status} request can move to: {choices}."]})
        request.status = status
        request.decided_by = str(decided_by)[:150]
        request.note = str(note)[:500]
        request.save(update_fields=["status", "decided_by", "note", "updated_at"])
    return request
