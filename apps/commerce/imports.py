"""File imports (CSV, MovieLens) on top of the bulk services; the management commands are thin wrappers.

Every import reads its file in batches through `apps.commerce.services`, so validation, idempotency and the
unknown-reference policy are the same as for the API. Row errors carry the file's line number.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from apps.commerce import selectors, services

BATCH = services.MAX_BULK_ROWS
CATALOG_COLUMNS = ("sku", "title", "description", "category", "price", "in_stock")
INTERACTION_COLUMNS = ("user", "item", "event", "weight", "timestamp")
INTERACTION_EVENTS = ("view", "add_to_cart", "purchase", "rating")
_EPOCH = re.compile(r"^\d+(\.\d+)?$")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (missing, wrong columns)."""


# Row errors kept for the report: a file of millions of bad rows must not keep millions of messages.
MAX_KEPT_ERRORS = 1000


@dataclass
class ImportReport:
    """Counts per kind of row, plus row errors as {"line": n, "errors": {field: [msg]}} (the first
    :data:`MAX_KEPT_ERRORS`; ``rejected`` counts them all)."""

    counts: dict[str, services.BulkResult] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0

    def reject(self, line: int, kind: str, errors: dict[str, list[str]]) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append({"line": line, "kind": kind, "errors": errors})

    def add(self, kind: str, result: services.BulkResult, lines: list[int]) -> None:
        total = self.counts.setdefault(kind, services.BulkResult())
        total.created += result.created
        total.updated += result.updated
        total.duplicates += result.duplicates
        for error in result.errors:
            self.reject(lines[error["index"]], kind, error["errors"])

    def summary_lines(self, max_errors: int = 20) -> list[str]:
        out = [f"{kind}: {r.created} created, {r.updated} updated, {r.duplicates} duplicates" for kind, r in self.counts.items()]
        shown = min(len(self.errors), max_errors)
        out.append(f"{self.rejected} rows rejected" + (f" (first {shown}):" if self.rejected > shown else ":" if self.errors else ""))
        for error in sorted(self.errors, key=lambda e: e["line"])[:max_errors]:
            reasons = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error["errors"].items())
            out.append(f"  line {error['line']} ({error['kind']}): {reasons}")
        return out


def _in_batches(report: ImportReport, kind: str, rows: Iterable[tuple[int, dict]], service: Callable[..., services.BulkResult]) -> None:
    lines: list[int] = []
    batch: list[dict] = []
    for line, row in rows:
        lines.append(line)
        batch.append(row)
        if len(batch) == BATCH:
            report.add(kind, service(rows=batch), lines)
            lines, batch = [], []
    if batch or kind not in report.counts:
        report.add(kind, service(rows=batch), lines)


def _csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file.")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportFileError(f"{path.name}: missing column(s) {', '.join(missing)}; expected {','.join(required)}.")
        for row in reader:
            yield reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}


# ----------------------------------------------------------------------------------------------------- catalog


def import_catalog_csv(path: Path) -> ImportReport:
    """Columns sku,title,description,category,price,in_stock and optionally attributes (a JSON object)."""
    report = ImportReport()

    def rows() -> Iterator[tuple[int, dict]]:
        for line, raw in _csv_rows(path, CATALOG_COLUMNS):
            row: dict[str, Any] = {k: raw[k] for k in ("sku", "title", "description", "category", "in_stock")}
            row["price"] = raw["price"] or None
            row["in_stock"] = raw["in_stock"] or None
            if raw.get("attributes"):
                try:
                    row["attributes"] = json.loads(raw["attributes"])
                except json.JSONDecodeError as exc:
                    report.reject(line, "products", {"attributes": [f"Not valid JSON: {exc.msg}."]})
                    continue
            yield line, row

    _in_batches(report, "products", rows(), services.product_upsert_many)
    return report


# ------------------------------------------------------------------------------------------------ interactions


def _iso_timestamp(value: str) -> str | None:
    """Epoch seconds or ISO-8601; a naive ISO timestamp is read as UTC. Anything else is passed on for the service
    to reject with its message."""
    if not value:
        return None
    if _EPOCH.match(value):
        return datetime.fromtimestamp(float(value), tz=UTC).isoformat()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).isoformat()


def interaction_event_id(user: str, item: str, event: str, weight: str, timestamp: str) -> str:
    """Derived from the row's content, so importing the same file again adds nothing."""
    digest = hashlib.sha256("\x1f".join((user, item, event, weight, timestamp)).encode()).hexdigest()[:32]
    return f"csv-{digest}"


def import_interactions_csv(path: Path, *, create_missing_products: bool = False) -> ImportReport:
    """Columns user,item,event,weight,timestamp: ``user`` is the customer's external id (unknown ones become stubs),
    ``item`` the product's sku, ``event`` one of view/add_to_cart/purchase/rating, ``weight`` the value (the rating,
    or the quantity), ``timestamp`` ISO-8601 (naive = UTC) or epoch seconds.

    An unknown ``item`` rejects the row unless ``create_missing_products``: then a placeholder product (title
    "Item <sku>") is created for it first, to be completed by a later catalog import."""
    report = ImportReport()

    def events() -> Iterator[tuple[int, dict]]:
        for line, raw in _csv_rows(path, INTERACTION_COLUMNS):
            if raw["event"] not in INTERACTION_EVENTS:
                report.reject(line, "events", {"event": [f"Unknown event {raw['event']!r}; one of {', '.join(INTERACTION_EVENTS)}."]})
                continue
            yield (
                line,
                {
                    "event_id": interaction_event_id(raw["user"], raw["item"], raw["event"], raw["weight"], raw["timestamp"]),
                    "type": raw["event"],
                    "sku": raw["item"],
                    "customer_external_id": raw["user"],
                    "value": raw["weight"] or None,
                    "occurred_at": _iso_timestamp(raw["timestamp"]),
                },
            )

    def with_products(rows: Iterator[tuple[int, dict]]) -> Iterator[tuple[int, dict]]:
        """Each batch's missing products are created just before the batch's events are stored."""
        while batch := list(islice(rows, BATCH)):
            skus = list(dict.fromkeys(row["sku"] for _, row in batch if row["sku"]))
            known = selectors.products_by_skus(skus=skus)
            missing = [(0, {"sku": sku, "title": f"Item {sku}"}) for sku in skus if sku not in known]
            if missing:
                _in_batches(report, "products", missing, services.product_upsert_many)
            yield from batch

    # A stream, BATCH rows at a time: a file of 20 M events is never held in memory.
    _in_batches(report, "events", with_products(events()) if create_missing_products else events(), services.event_ingest_many)
    return report


# --------------------------------------------------------------------------------------------------- MovieLens

ML_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file.")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # the original MovieLens files are Latin-1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def movielens_sku(item: str) -> str:
    return f"ml-{item}"


def movielens_customer(user: str) -> str:
    return f"ml-{user}"


def import_movielens(directory: Path) -> ImportReport:
    """MovieLens 100k: ``u.item`` → products (sku ``ml-<item>``, title, first genre as category, all genres in
    attributes); ``u.user`` (if present) + ``u.data`` → customers ``ml-<user>`` and ``rating`` events with event id
    ``ml100k-<user>-<item>``. Idempotent."""
    report = ImportReport()
    genres = ML_GENRES
    if (directory / "u.genre").is_file():
        pairs = [line.split("|") for _, line in _read_lines(directory / "u.genre")]
        genres = tuple(name for name, _ in sorted((p for p in pairs if len(p) == 2), key=lambda p: int(p[1])))

    def products() -> Iterator[tuple[int, dict]]:
        for number, line in _read_lines(directory / "u.item"):
            parts = line.split("|")
            if len(parts) < 5 + len(genres):
                report.reject(number, "products", {"u.item": [f"Expected {5 + len(genres)} fields, got {len(parts)}."]})
                continue
            item, title, released, _, url = parts[:5]
            names = [g for g, flag in zip(genres, parts[5 : 5 + len(genres)], strict=True) if flag.strip() == "1"]
            category = next((g for g in names if g != "unknown"), "unknown")
            description = f"Released {released}. Genres: {', '.join(names)}." if released else f"Genres: {', '.join(names)}."
            attributes = {"genres": names, "release_date": released, "imdb_url": url, "movielens_id": int(item) if item.isdigit() else item}
            yield number, {"sku": movielens_sku(item), "title": title, "description": description, "category": category, "attributes": attributes}

    _in_batches(report, "products", products(), services.product_upsert_many)

    ratings: list[tuple[int, str, str, str, str]] = []
    for number, line in _read_lines(directory / "u.data"):
        parts = line.split()
        if len(parts) != 4:
            report.reject(number, "events", {"u.data": [f"Expected user, item, rating, timestamp; got {line!r}."]})
            continue
        ratings.append((number, *parts))

    users: dict[str, dict] = {}
    if (directory / "u.user").is_file():
        for _, line in _read_lines(directory / "u.user"):
            parts = line.split("|")
            if len(parts) == 5:
                user, age, gender, occupation, zip_code = parts
                users[user] = {"age": int(age) if age.isdigit() else age, "gender": gender, "occupation": occupation, "zip_code": zip_code}
    user_ids = list(dict.fromkeys(user for _, user, *_ in ratings))
    customer_rows = [(0, {"external_id": movielens_customer(u), "name": f"MovieLens user {u}", "attributes": users.get(u, {})}) for u in user_ids]
    _in_batches(report, "customers", customer_rows, services.customer_upsert_many)

    events = (
        (
            number,
            {
                "event_id": f"ml100k-{user}-{item}",
                "type": "rating",
                "sku": movielens_sku(item),
                "customer_external_id": movielens_customer(user),
                "value": rating,
                "occurred_at": _iso_timestamp(stamp),
            },
        )
        for number, user, item, rating, stamp in ratings
    )
    _in_batches(report, "events", events, services.event_ingest_many)
    return report
