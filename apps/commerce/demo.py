"""A generated demo shop for `make run`: catalog, customers with latent tastes, their orders and events.

Everything comes from one seeded random generator, so the shop is the same on every machine. Customers have
tastes a recommender can find: each prefers 1–3 categories, a style inside each (road vs trail shoes, espresso vs
filter coffee …) and a price tier; they view, add to cart, buy and rate mostly what they prefer, and popular products
are seen more. The demo customer "Dana Demo" (``demo-customer``) has orders DS-100001…DS-100003 for the chatbot.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.commerce.models import Customer, Event, EventType, Order, OrderLine, OrderStatus, Product
from apps.commerce.services import insert_event_rows

SEED = 20260301
PRODUCTS_PER_CATEGORY = 40
CUSTOMERS = 3000
DAYS = 90
DEMO_CUSTOMER = "demo-customer"
DEMO_ORDERS = ("DS-100001", "DS-100002", "DS-100003")
TIERS = ("budget", "mid-range", "premium")
CARRIERS = ("DHL", "UPS", "DPD", "GLS", "PostNL")


@dataclass(frozen=True)
class _Category:
    name: str
    prefix: str
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]
    # Three styles, each with two product nouns and its selling points: customers prefer one style in a category.
    styles: tuple[tuple[str, tuple[str, str], tuple[str, str]], ...]
    price_range: tuple[int, int]


CATEGORIES = (
    _Category(
        "running shoes",
        "RUN",
        ("Strideline", "Apexa", "Kestrel", "Fleetfoot", "Norrvik"),
        ("Lightweight", "Cushioned", "Responsive", "Carbon", "Breathable", "Grippy", "Waterproof", "Wide-fit"),
        (
            ("road", ("Road Racer", "Tempo Trainer"), ("A rocker sole keeps the stride rolling on tarmac.", "Built for tempo runs and race day.")),
            ("trail", ("Trail Runner", "Fell Racer"), ("Lugs bite into mud and loose gravel.", "A rock plate protects on technical descents.")),
            ("everyday", ("Daily Cruiser", "Recovery Shoe"), ("Soft foam for easy miles and long walks.", "A roomy toe box for all-day comfort.")),
        ),
        (55, 230),
    ),
    _Category(
        "rain jackets",
        "RAIN",
        ("Nimbus", "Fjellmark", "Drizzle & Co", "Stormline", "Kestrel"),
        ("Packable", "Breathable", "Insulated", "Recycled", "Lightweight", "Storm-proof", "Hooded", "Seam-sealed"),
        (
            ("running", ("Packable Shell", "Race Jacket"), ("Packs into its own chest pocket.", "Weighs less than a banana.")),
            ("mountain", ("Hiking Hardshell", "Mountain Jacket"), ("Taped seams keep out driving rain.", "Pit zips vent heat on the climb.")),
            ("city", ("City Raincoat", "Commuter Parka"), ("A long cut that covers a suit jacket.", "Reflective trims for cycling home.")),
        ),
        (45, 320),
    ),
    _Category(
        "coffee",
        "COF",
        ("Roastery North", "Bean & Barrow", "Casa Tostado", "Ember Roasters", "Highland Cup"),
        ("Ethiopian", "Colombian", "Brazilian", "Guatemalan", "Kenyan", "Sumatran", "House", "Organic"),
        (
            ("espresso", ("Espresso Blend", "Dark Roast"), ("Notes of dark chocolate and hazelnut.", "Rich crema from any espresso machine.")),
            ("filter", ("Single-Origin Filter", "Light Roast"), ("Bright acidity with hints of berries.", "Shines in a pour-over or a French press.")),
            ("easy-going", ("Decaf Blend", "Cold Brew Pack"), ("Smooth and low in bitterness.", "Gentle enough for an evening cup.")),
        ),
        (7, 32),
    ),
    _Category(
        "tea",
        "TEA",
        ("Leaf & Kettle", "Jade Mountain", "Chai Collective", "Teahouse 1892", "Misty Ridge"),
        ("Organic", "First Flush", "Loose-leaf", "Ceremonial", "Smoky", "Citrus", "Wild", "Royal"),
        (
            ("green", ("Sencha", "Matcha"), ("Grassy and sweet with a clean finish.", "Steep for two minutes at 75 °C.")),
            ("black", ("Earl Grey", "Assam Breakfast"), ("Malty and strong enough for milk.", "A classic morning cup.")),
            ("herbal", ("Chamomile Infusion", "Rooibos"), ("Caffeine-free and calming before bed.", "Naturally sweet, no sugar needed.")),
        ),
        (5, 38),
    ),
    _Category(
        "cookware",
        "COOK",
        ("Ironhearth", "Maison Cuivre", "Kitchwell", "Forge & Field", "Sakura Steel"),
        ("Pre-seasoned", "Enamelled", "Stainless", "Induction-ready", "Hand-forged", "Nonstick", "Tri-ply", "Oven-safe"),
        (
            ("cast iron", ("Cast-Iron Skillet", "Dutch Oven"), ("Holds heat evenly for a perfect sear.", "Goes from the stove into a 260 °C oven.")),
            ("everyday pans", ("Nonstick Pan", "Sauté Pan"), ("Eggs slide right off the surface.", "Works on gas, electric and induction.")),
            ("knives", ("Chef's Knife", "Santoku Knife"), ("A blade that holds its edge for months.", "A balanced handle for precise cuts.")),
        ),
        (18, 260),
    ),
    _Category(
        "yoga",
        "YOGA",
        ("Lotusform", "Groundwell", "Asana Lab", "Still Point", "Mira Move"),
        ("Non-slip", "Eco", "Extra-thick", "Travel", "Cork", "Natural Rubber", "Alignment", "Cushioned"),
        (
            ("mats", ("Yoga Mat", "Travel Mat"), ("Grips even in a hot yoga class.", "Alignment lines help with posture.")),
            ("props", ("Cork Block", "Yoga Strap"), ("Helps you deepen stretches safely.", "Made from sustainably harvested cork.")),
            ("meditation", ("Meditation Cushion", "Bolster"), ("Filled with buckwheat hulls.", "A washable cotton cover.")),
        ),
        (12, 140),
    ),
    _Category(
        "camping",
        "CAMP",
        ("Trailhaven", "Fjellmark", "Basecamp Co", "Ridgeway", "Northstar Gear"),
        ("Ultralight", "Four-season", "Compact", "Insulated", "Waterproof", "Rechargeable", "Two-person", "Down-filled"),
        (
            ("shelter", ("Ultralight Tent", "Bivy Shelter"), ("Pitches in under five minutes.", "Survived gale-force winds in testing.")),
            ("sleep", ("Sleeping Bag", "Sleeping Pad"), ("Comfort rating down to -5 °C.", "Packs down to the size of a water bottle.")),
            ("camp kitchen", ("Camp Stove", "Titanium Pot Set"), ("Boils a litre of water in three minutes.", "Nests together to save space in the pack.")),
        ),
        (25, 480),
    ),
    _Category(
        "books",
        "BOOK",
        ("Harbour Press", "Greenway Books", "Marlowe & Finch", "Northlight", "Paper Lantern"),
        ("Silent", "Last", "Hidden", "Northern", "Midnight", "Winter", "Quiet", "Golden"),
        (
            ("crime", ("Lighthouse Murders", "Cipher"), ("A twist you will not see coming.", "A detective story set on a stormy coast.")),
            ("cooking", ("Kitchen", "Table Cookbook"), ("Over 120 recipes with photographs.", "Seasonal dishes for every weeknight.")),
            ("outdoors", ("Trail Guide", "Summit Stories"), ("Maps and routes for every season.", "Written by a former mountain guide.")),
        ),
        (9, 45),
    ),
)

FIRST_NAMES = (
    "Alex",
    "Sam",
    "Noa",
    "Mia",
    "Luca",
    "Emma",
    "Jonas",
    "Lena",
    "Omar",
    "Sofia",
    "Finn",
    "Ines",
    "Yuki",
    "Aria",
    "Ben",
    "Chloe",
    "David",
    "Elif",
    "Felix",
    "Grace",
    "Hugo",
    "Ida",
    "Jan",
    "Kira",
    "Leo",
    "Maya",
    "Nils",
    "Olivia",
    "Paul",
    "Rosa",
)
LAST_NAMES = (
    "Meyer",
    "Jansen",
    "Rossi",
    "Novak",
    "Dubois",
    "Kowalski",
    "Silva",
    "Berg",
    "Fischer",
    "Costa",
    "Lund",
    "Moreau",
    "Weber",
    "Nieminen",
    "Horvat",
    "Santos",
    "Keller",
    "Vogel",
    "Brandt",
    "Olsen",
    "Peeters",
    "Larsen",
    "Roth",
    "Marin",
)


@dataclass(frozen=True)
class _Product:
    sku: str
    category: int
    style: int
    tier: int
    price: Decimal
    popularity: float


def _catalog(rng: random.Random) -> tuple[list[Product], list[_Product]]:
    products, latent = [], []
    for c, cat in enumerate(CATEGORIES):
        combos = [(b, a, s, n) for b in cat.brands for a in cat.adjectives for s in range(3) for n in range(2)]
        rng.shuffle(combos)
        low, high = cat.price_range
        for i, (brand, adjective, style, noun_index) in enumerate(combos[:PRODUCTS_PER_CATEGORY]):
            style_name, nouns, features = cat.styles[style]
            noun = nouns[noun_index]
            tier = rng.choices((0, 1, 2), weights=(3, 4, 3))[0]
            band = (high - low) / 3
            price = Decimal(str(round(low + band * tier + rng.random() * band))) - Decimal("0.01")
            title = f"The {adjective} {noun}" if cat.name == "books" else f"{brand} {adjective} {noun}"
            if cat.name == "books":
                description = f"A {style_name} book from {brand}. {' '.join(features)}"
            else:
                description = f"{adjective} {noun.lower()} by {brand}, {TIERS[tier]} {style_name} {cat.name}. {' '.join(features)}"
            sku = f"{cat.prefix}-{i + 1:04d}"
            products.append(
                Product(
                    sku=sku,
                    title=title,
                    description=description,
                    category=cat.name,
                    price=price,
                    in_stock=rng.random() > 0.06,
                    attributes={"brand": brand, "style": style_name, "tier": TIERS[tier], **_wearable_attributes(cat.name, adjective, sku)},
                )
            )
            latent.append(_Product(sku, c, style, tier, price, rng.lognormvariate(0, 0.8)))
    return products, latent


COLOURS = ("black", "blue", "red", "green", "grey", "yellow", "orange", "white", "navy", "purple")
SHOE_SIZES = tuple(str(n) for n in range(38, 47))
CLOTHING_SIZES = ("XS", "S", "M", "L", "XL", "XXL")


def _wearable_attributes(category: str, adjective: str, sku: str) -> dict:
    """Colour, sizes and waterproofing for the categories where shoppers ask for them ("a red jacket in size M").

    Drawn from a generator of their own (seeded by the SKU), so the rest of the shop is the same as before."""
    rng = random.Random(f"{SEED}:{sku}")
    if category == "running shoes":
        low = rng.randrange(0, 3)
        sizes = [s for s in SHOE_SIZES[low : low + rng.randrange(5, 8)] if rng.random() > 0.15]
        return {"colour": rng.choice(COLOURS), "sizes": sizes, "waterproof": adjective == "Waterproof"}
    if category == "rain jackets":
        sizes = [s for s in CLOTHING_SIZES if rng.random() > 0.2] or ["M"]
        return {"colour": rng.choice(COLOURS), "sizes": sizes, "waterproof": True}
    if category == "yoga":
        return {"colour": rng.choice(COLOURS)}
    if category == "camping":
        return {"colour": rng.choice(COLOURS), "waterproof": adjective in ("Waterproof", "Four-season")}
    return {}


@dataclass
class _Taste:
    categories: list[int]
    category_weights: list[float]
    styles: dict[int, int]
    tier: int


def _taste(rng: random.Random) -> _Taste:
    categories = rng.sample(range(len(CATEGORIES)), rng.choices((1, 2, 3), weights=(3, 4, 3))[0])
    return _Taste(
        categories=categories,
        category_weights=[rng.uniform(0.5, 1.5) for _ in categories],
        styles={c: rng.randrange(3) for c in categories},
        tier=rng.choices((0, 1, 2), weights=(3, 4, 3))[0],
    )


def _affinity(taste: _Taste, product: _Product) -> float:
    style = 3.0 if taste.styles.get(product.category) == product.style else 0.6
    tier = (1.0, 0.45, 0.15)[abs(taste.tier - product.tier)]
    return style * tier


def _order_state(rng: random.Random, placed_at: datetime, now: datetime) -> dict:
    age = (now - placed_at).total_seconds() / 86400
    if age < 1:
        status = rng.choice((OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.PAID))
    elif age < 3:
        status = rng.choice((OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.SHIPPED))
    elif age < 7:
        status = rng.choice((OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.DELIVERED))
    else:
        status = rng.choices((OrderStatus.DELIVERED, OrderStatus.RETURNED, OrderStatus.CANCELLED), weights=(90, 7, 3))[0]
    shipped = status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.RETURNED)
    carrier = rng.choice(CARRIERS)
    return {
        "status": status,
        "carrier": carrier if shipped else "",
        "tracking_number": f"{carrier[:2].upper()}{rng.randrange(10**9, 10**10)}" if shipped else "",
        "estimated_delivery": None if status == OrderStatus.CANCELLED else (placed_at + timedelta(days=rng.randint(2, 5))).date(),
    }


class _Shop:
    """Accumulates the generated orders and events before one bulk insert."""

    def __init__(self) -> None:
        self.orders: list[dict] = []
        self.events: list[dict] = []

    def event(self, kind: str, customer: str, sku: str, at: datetime, value: float | None = None) -> None:
        self.events.append({"event_id": f"demo-{len(self.events) + 1:07d}", "type": kind, "customer": customer, "sku": sku, "at": at, "value": value})

    def order(self, number: str, customer: str, at: datetime, lines: list[tuple[_Product, int]], state: dict) -> None:
        self.orders.append({"number": number, "customer": customer, "at": at, "lines": lines, **state})


def _shop_activity(rng: random.Random, latent: list[_Product], customers: list[tuple[str, _Taste]], now: datetime, shop: _Shop) -> None:
    by_category: dict[int, list[_Product]] = {}
    for product in latent:
        by_category.setdefault(product.category, []).append(product)
    order_number = 200000
    for external_id, taste in customers:
        sessions = 1 + min(int(rng.expovariate(1 / 3.5)), 15)
        for _ in range(sessions):
            start = now - timedelta(seconds=rng.uniform(3600, DAYS * 86400))
            if rng.random() < 0.88:
                category = rng.choices(taste.categories, weights=taste.category_weights)[0]
            else:
                category = rng.randrange(len(CATEGORIES))
            pool = by_category[category]
            weights = [p.popularity * _affinity(taste, p) for p in pool]
            viewed = list(dict.fromkeys(rng.choices(pool, weights=weights, k=rng.randint(2, 6))))
            at = start
            cart: list[_Product] = []
            for product in viewed:
                at += timedelta(seconds=rng.randint(20, 240))
                shop.event(EventType.VIEW, external_id, product.sku, at)
                if rng.random() < 0.12 + 0.12 * _affinity(taste, product):
                    at += timedelta(seconds=rng.randint(10, 90))
                    shop.event(EventType.ADD_TO_CART, external_id, product.sku, at, 1.0)
                    cart.append(product)
            bought = [p for p in cart if rng.random() < 0.65]
            if not bought:
                continue
            at += timedelta(seconds=rng.randint(60, 600))
            lines = [(p, 2 if rng.random() < 0.1 else 1) for p in bought]
            for product, quantity in lines:
                shop.event(EventType.PURCHASE, external_id, product.sku, at, float(quantity))
            order_number += 1
            shop.order(f"DS-{order_number}", external_id, at, lines, _order_state(rng, at, now))
            for product, _ in lines:
                rated_at = at + timedelta(days=rng.uniform(3, 12))
                if rated_at < now and rng.random() < 0.4:
                    score = 2.0 + _affinity(taste, product) + rng.gauss(0, 0.6)
                    shop.event(EventType.RATING, external_id, product.sku, rated_at, float(min(5, max(1, round(score)))))


def _dana(latent: list[_Product], now: datetime, shop: _Shop) -> None:
    """The chatbot's demo customer: a trail runner who likes premium rain gear; three orders in different states."""
    shoes = [p for p in latent if p.category == 0 and p.style == 1][:3]
    jackets = [p for p in latent if p.category == 1 and p.style == 1][:2]
    coffee = [p for p in latent if p.category == 2 and p.style == 0][:1]
    specs = [
        (
            DEMO_ORDERS[0],
            now - timedelta(days=24),
            [(shoes[0], 1), (coffee[0], 2)],
            {"status": OrderStatus.DELIVERED, "carrier": "DHL", "tracking_number": "DH4711000001", "estimated_delivery": (now - timedelta(days=21)).date()},
        ),
        (
            DEMO_ORDERS[1],
            now - timedelta(days=2),
            [(jackets[0], 1)],
            {"status": OrderStatus.SHIPPED, "carrier": "UPS", "tracking_number": "1Z999AA10123456784", "estimated_delivery": (now + timedelta(days=2)).date()},
        ),
        (
            DEMO_ORDERS[2],
            now - timedelta(hours=5),
            [(shoes[1], 1)],
            {"status": OrderStatus.PENDING, "carrier": "", "tracking_number": "", "estimated_delivery": (now + timedelta(days=5)).date()},
        ),
    ]
    for number, at, lines, state in specs:
        for product, _ in lines:
            shop.event(EventType.VIEW, DEMO_CUSTOMER, product.sku, at - timedelta(minutes=12))
            shop.event(EventType.ADD_TO_CART, DEMO_CUSTOMER, product.sku, at - timedelta(minutes=5), 1.0)
        for product, quantity in lines:
            shop.event(EventType.PURCHASE, DEMO_CUSTOMER, product.sku, at, float(quantity))
        shop.order(number, DEMO_CUSTOMER, at, lines, state)
    for product in (*shoes, *jackets):
        shop.event(EventType.VIEW, DEMO_CUSTOMER, product.sku, now - timedelta(days=40))
    shop.event(EventType.RATING, DEMO_CUSTOMER, shoes[0].sku, now - timedelta(days=18), 5.0)


def seed_demo_shop() -> str:
    """Create the demo shop unless it is there; returns a one-line summary."""
    if Order.objects.filter(number=DEMO_ORDERS[-1]).exists():
        return f"commerce: demo shop already there ({Product.objects.count()} products, {Customer.objects.count()} customers, {Event.objects.count()} events)"
    rng = random.Random(SEED)
    now = timezone.now().replace(second=0, microsecond=0)
    products, latent = _catalog(rng)
    customers = [(DEMO_CUSTOMER, None)] + [(f"cust-{i:05d}", _taste(rng)) for i in range(1, CUSTOMERS + 1)]
    shop = _Shop()
    _dana(latent, now, shop)
    _shop_activity(rng, latent, [(e, t) for e, t in customers if t is not None], now, shop)

    customer_rows = [Customer(external_id=DEMO_CUSTOMER, name="Dana Demo", email="dana@example.com", attributes={"demo": True})]
    for external_id, taste in customers[1:]:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        customer_rows.append(
            Customer(
                external_id=external_id,
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}.{external_id[-5:]}@example.com",
                attributes={"segment": TIERS[taste.tier]},
            )
        )

    with transaction.atomic():
        # ignore_conflicts: a shop that already imported some of these keys keeps its own rows.
        Product.objects.bulk_create(products, batch_size=1000, ignore_conflicts=True)
        Customer.objects.bulk_create(customer_rows, batch_size=1000, ignore_conflicts=True)
        product_ids = dict(Product.objects.filter(sku__in=[p.sku for p in products]).values_list("sku", "id"))
        customer_ids = dict(Customer.objects.filter(external_id__in=[c.external_id for c in customer_rows]).values_list("external_id", "id"))
        Order.objects.bulk_create(
            [
                Order(
                    number=o["number"],
                    customer_id=customer_ids[o["customer"]],
                    status=o["status"],
                    placed_at=o["at"],
                    total=sum((p.price * q for p, q in o["lines"]), Decimal("0.00")),
                    carrier=o["carrier"],
                    tracking_number=o["tracking_number"],
                    estimated_delivery=o["estimated_delivery"],
                )
                for o in shop.orders
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        order_ids = dict(Order.objects.filter(number__in=[o["number"] for o in shop.orders]).values_list("number", "id"))
        fresh_orders = set(order_ids) - set(OrderLine.objects.filter(order_id__in=order_ids.values()).values_list("order__number", flat=True))
        OrderLine.objects.bulk_create(
            [
                OrderLine(order_id=order_ids[o["number"]], product_id=product_ids[p.sku], quantity=q, unit_price=p.price)
                for o in shop.orders
                if o["number"] in fresh_orders
                for p, q in o["lines"]
            ],
            batch_size=2000,
        )
        now_received = timezone.now()
        insert_event_rows(
            [(e["event_id"], e["type"], customer_ids[e["customer"]], "", product_ids[e["sku"]], e["value"], e["at"], "", now_received) for e in shop.events]
        )
    kinds = Counter(e["type"] for e in shop.events)
    return (
        f"commerce: demo shop with {len(products)} products in {len(CATEGORIES)} categories, {len(customer_rows)} customers, "
        f"{len(shop.orders)} orders, {len(shop.events)} events ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}); "
        f"chat demo customer {DEMO_CUSTOMER!r} with orders {', '.join(DEMO_ORDERS)}"
    )
