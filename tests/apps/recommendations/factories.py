"""A small shop with clear tastes, written through the commerce services (as the ingestion API would)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from apps.commerce import services as commerce

CATEGORIES = {
    "coffee": ["Espresso beans", "Pour-over kettle", "Burr grinder", "Milk frother", "Coffee scale", "Moka pot", "Cold brew jar", "Decaf blend"],
    "garden": ["Pruning shears", "Watering can", "Seed tray", "Garden gloves", "Compost bin", "Hose reel", "Raised bed", "Trowel set"],
    "running": ["Trail shoes", "Running socks", "Hydration vest", "Sports watch", "Reflective jacket", "Foam roller", "Energy gels", "Headlamp"],
}


def sku_of(category: str, index: int) -> str:
    return f"{category[:3].upper()}-{index:03d}"


PER_CATEGORY = 14  # the last two of each category are never touched (cold products)


def title_of(category: str, index: int) -> str:
    base = CATEGORIES[category][index % len(CATEGORIES[category])]
    return base if index < len(CATEGORIES[category]) else f"{base} Pro"


def make_shop(*, customers_per_category: int = 20, events_per_customer: int = 8, seed: int = 7) -> dict:
    """Products in three categories; each customer views, carts and buys mostly within one category."""
    rng = random.Random(seed)
    # Recent events, so every customer counts as active for the batch precompute.
    base_time = datetime.now(UTC) - timedelta(days=7)
    products = []
    for category in CATEGORIES:
        for index in range(PER_CATEGORY):
            title = title_of(category, index)
            products.append(
                {
                    "sku": sku_of(category, index),
                    "title": title,
                    "description": f"{title} for {category} lovers.",
                    "category": category,
                    "price": f"{10 + index}.00",
                    "in_stock": index != 1,  # the second product of each category is out of stock
                }
            )
    assert not commerce.product_upsert_many(rows=products).errors
    events, taste = [], {}
    n = 0
    for category in CATEGORIES:
        for c in range(customers_per_category):
            external_id = f"{category}-fan-{c}"
            taste[external_id] = category
            for e in range(events_per_customer):
                own = rng.random() < 0.9
                cat = category if own else rng.choice(list(CATEGORIES))
                index = rng.randrange(PER_CATEGORY - 2)
                kind = rng.choices(["view", "add_to_cart", "purchase"], weights=[6, 2, 1])[0]
                n += 1
                events.append(
                    {
                        "event_id": f"ev-{n}",
                        "type": kind,
                        "sku": sku_of(cat, index),
                        "customer_external_id": external_id,
                        "occurred_at": (base_time + timedelta(minutes=10 * e + c)).isoformat(),
                    }
                )
    result = commerce.event_ingest_many(rows=events)
    assert not result.errors, result.errors[:3]
    return {"taste": taste, "events": len(events), "products": len(products)}
