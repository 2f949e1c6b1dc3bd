"""The product catalog as serving needs it, held in process memory.

Every recommendation request used to read the recommended products (sku, title, price, category) and, for the
``in_stock``/``category`` filters, the ids of the allowed products from PostgreSQL. Serving now reads them from an
in-process snapshot of the catalog:

* A process checks the catalog's *fingerprint* at most every ``RECOMMENDATIONS_CATALOG_REFRESH_SECONDS``
  (default 5 s): one aggregate query — number of products, number in stock, and the sum and maximum of
  ``updated_at``. Commerce stamps ``updated_at`` on every create and update (``product_upsert_many``), so any
  change of any product changes the sum whatever the order in which transactions commit; a stock flag flipped
  by a bare ``QuerySet.update`` still changes the in-stock count. When the fingerprint differs, the snapshot
  is reloaded (one query over the catalog's metadata columns).
* So a product that goes out of stock, changes its title or price, or is deleted is served as such within that
  delay; the previous per-request filters already had the same 5 s cache.
* Per model version, the allowed products of a filter (in stock, a category) become a boolean mask over the
  model's item columns, cached with the snapshot: a request does no per-product Python work for filters.

A SKU that the snapshot does not know (a product created a moment ago) is looked up in the database, so a
session that names a brand-new product is never told that it is unknown.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

import numpy as np
from django.conf import settings

from apps.commerce import selectors as commerce
from apps.commerce.models import Product


class ProductInfo(NamedTuple):
    id: int
    sku: str
    title: str
    price: Decimal | None
    category: str
    in_stock: bool


@dataclass
class CatalogSnapshot:
    fingerprint: tuple
    by_id: dict[int, ProductInfo]
    by_sku: dict[str, ProductInfo]
    # (model key, in_stock, category) → boolean mask over that model's item columns
    _masks: dict[tuple, np.ndarray] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allowed_mask(self, model_key: object, item_ids: np.ndarray, in_stock: bool, category: str | None) -> np.ndarray | None:
        """Which of ``item_ids`` (the columns of the model ``model_key``, e.g. a version id) pass the filters; None
        when there is no filter."""
        if not in_stock and not category:
            return None
        key = (model_key, bool(in_stock), category or "")
        mask = self._masks.get(key)
        if mask is None:
            get = self.by_id.get
            flags = []
            for item_id in item_ids.tolist():
                p = get(item_id)
                flags.append(p is not None and (not in_stock or p.in_stock) and (not category or p.category == category))
            mask = np.array(flags, dtype=bool)
            with self._lock:
                if len(self._masks) > 256:
                    self._masks.clear()
                self._masks[key] = mask
        return mask


class CatalogCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: CatalogSnapshot | None = None
        self._checked = 0.0

    @staticmethod
    def fingerprint() -> tuple:
        return commerce.catalog_fingerprint()

    @staticmethod
    def _load(fingerprint: tuple) -> CatalogSnapshot:
        rows = Product.objects.values_list("id", "sku", "title", "price", "category", "in_stock")
        by_id = {r[0]: ProductInfo(*r) for r in rows.iterator(chunk_size=5000)}
        return CatalogSnapshot(fingerprint, by_id, {p.sku: p for p in by_id.values()})

    def get(self) -> CatalogSnapshot:
        """The current snapshot, re-validated at most every RECOMMENDATIONS_CATALOG_REFRESH_SECONDS."""
        now = time.monotonic()
        snapshot = self._snapshot
        if snapshot is not None and now - self._checked < settings.RECOMMENDATIONS_CATALOG_REFRESH_SECONDS:
            return snapshot
        with self._lock:  # one thread checks; the others wait for it rather than all querying at once
            snapshot = self._snapshot
            if snapshot is not None and time.monotonic() - self._checked < settings.RECOMMENDATIONS_CATALOG_REFRESH_SECONDS:
                return snapshot
            fingerprint = self.fingerprint()
            if snapshot is None or snapshot.fingerprint != fingerprint:
                snapshot = self._snapshot = self._load(fingerprint)
            self._checked = time.monotonic()
            return snapshot

    def products_by_skus(self, skus: list[str]) -> dict[str, ProductInfo]:
        """Products of these SKUs: from the snapshot, and from the database for SKUs it does not know yet."""
        snapshot = self.get()
        found = {s: snapshot.by_sku[s] for s in skus if s in snapshot.by_sku}
        missing = [s for s in skus if s not in found]
        if missing:
            for sku, p in commerce.products_by_skus(skus=missing).items():
                found[sku] = ProductInfo(p.id, p.sku, p.title, p.price, p.category, p.in_stock)
        return found

    def clear(self) -> None:
        with self._lock:
            self._snapshot = None
            self._checked = 0.0


catalog_cache = CatalogCache()
