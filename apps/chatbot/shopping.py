"""The shop's catalog as the chatbot searches it: one :class:`ml.nlp.catalog.CatalogSearcher` per process.

The index is checked against the catalog's fingerprint at most every ``CHATBOT_CATALOG_REFRESH_SECONDS`` and rebuilt
when a product changed; a rebuild encodes only new or edited products (the others' embeddings are reused). Encoding
costs about 14 ms a product on two CPU cores, so above ``CHATBOT_CATALOG_DENSE_MAX_PRODUCTS`` products relevance is
BM25 alone (constraints, categories and their synonyms work the same). The web process builds the index at start-up
(``engine.warm_up``), so no customer waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings

from apps.commerce import selectors as commerce
from ml.nlp.catalog import CatalogResult, CatalogSearcher, Constraints, ProductText

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_index: tuple[tuple, CatalogSearcher, dict[str, ProductText]] | None = None
_checked = 0.0


def _encoder():  # noqa: ANN202
    from apps.chatbot.engine import pretrained_encoder

    return pretrained_encoder()


def _product(row: tuple) -> ProductText:
    sku, title, description, category, price, currency, in_stock, attributes = row
    return ProductText(
        key=sku,
        title=title,
        description=description or "",
        category=category or "",
        price=float(price) if price is not None else None,
        currency=currency or "",
        in_stock=bool(in_stock),
        attributes=attributes if isinstance(attributes, dict) else {},
    )


def catalog_index() -> tuple[CatalogSearcher, dict[str, ProductText]]:
    """The searcher and the products by SKU, as of at most ``CHATBOT_CATALOG_REFRESH_SECONDS`` ago."""
    global _index, _checked
    index = _index
    if index is not None and time.monotonic() - _checked < settings.CHATBOT_CATALOG_REFRESH_SECONDS:
        return index[1], index[2]
    with _lock:
        index = _index
        if index is not None and time.monotonic() - _checked < settings.CHATBOT_CATALOG_REFRESH_SECONDS:
            return index[1], index[2]
        fingerprint = commerce.catalog_fingerprint()
        if index is None or index[0] != fingerprint:
            started = time.monotonic()
            products = [_product(row) for row in commerce.catalog_rows()]
            dense = len(products) <= settings.CHATBOT_CATALOG_DENSE_MAX_PRODUCTS
            searcher = CatalogSearcher(products, _encoder(), previous=index[1] if index is not None else None, dense=dense)
            index = _index = (fingerprint, searcher, {p.key: p for p in products})
            logger.info("chatbot catalog index: %d products in %.1f s", len(products), time.monotonic() - started)
        _checked = time.monotonic()
        return index[1], index[2]


def clear() -> None:
    global _index, _checked
    with _lock:
        _index, _checked = None, 0.0


def card(product: ProductText, reason: str = "") -> dict[str, Any]:
    """A product card as the widget shows it: title, price with currency, stock, and the attributes shoppers ask about."""
    attributes = {k: v for k, v in list(product.attributes.items())[:12] if isinstance(v, (str, int, float, bool, list))}
    return {
        "sku": product.key,
        "title": product.title,
        "price": f"{product.price:.2f}" if product.price is not None else "",
        "currency": product.currency,
        "in_stock": product.in_stock,
        "category": product.category,
        "attributes": attributes,
        "reason": reason,
    }


def recommendation_boost(*, customer_external_id: str, constraints: Constraints) -> dict[str, float]:
    """The shopper's recommendation scores (1.0 for the first, falling by rank) for products in the asked category:
    among equally relevant products the bot shows what this shopper is most likely to want. Empty when the
    recommendations app or a model is missing."""
    try:
        from apps.recommendations.services import recommendations_for
    except ImportError:
        return {}
    try:
        result = recommendations_for(
            customer_external_id=customer_external_id or None, n=50, in_stock=constraints.in_stock, category=constraints.category or None
        )
    except LookupError:  # no recommendation model trained yet
        return {}
    except Exception:  # a recommendation outage must not take the shopping answer down with it
        logger.exception("recommendations for the chatbot's catalog answer failed")
        return {}
    n = max(len(result.items), 1)
    return {item.sku: 1.0 - i / n for i, item in enumerate(result.items)}


def search(
    constraints: Constraints, *, k: int, exclude: set[str] | frozenset[str] = frozenset(), boost: dict[str, float] | None = None, sort: str = "relevance"
) -> CatalogResult:
    searcher, _ = catalog_index()
    return searcher.search(constraints, k=k, exclude=exclude, boost=boost, sort=sort)


def names_products(text: str) -> bool:
    """Whether the words of a query occur in the catalog at all (BM25): "a crime novel" does, "recommend me
    something" does not — that one is a request for recommendations, not a search."""
    from ml.nlp.retrieval import tokenize

    searcher, _ = catalog_index()
    return bool(text) and len(searcher.products) > 0 and float(searcher.bm25.scores(tokenize(text)).max()) > 0


def parse(text: str) -> Constraints:
    searcher, _ = catalog_index()
    return searcher.parse(text)
