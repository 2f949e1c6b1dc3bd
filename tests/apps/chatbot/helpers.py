"""Shared set-up for the chatbot tests: the demo data, a trained intent model, shop orders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from apps.chatbot.demo import DEMO_SITE_KEY, seed_demo
from apps.chatbot.families import INTENT_FAMILY
from apps.chatbot.models import Conversation, Site
from apps.chatbot.services import customer_signature, session_start
from apps.mlops import services as mlops
from apps.mlops.models import RunStatus, VersionStatus

# The frozen-encoder configuration: trains in seconds on the demo examples (tests need no fine-tuning).
TINY_CONFIG = {"finetune_epochs": 0, "feature_layers": 1}


def demo_site() -> Site:
    seed_demo()
    return Site.objects.get(site_key=DEMO_SITE_KEY)


def train_intent_model(config: dict | None = None):  # noqa: ANN201
    run = mlops.training_run_start(family=INTENT_FAMILY, trigger="cli", config=config or TINY_CONFIG, dispatch=False)
    run = mlops.training_run_execute(run_id=run.pk, worker="test")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.model_version.status == VersionStatus.PRODUCTION
    return run.model_version


def shop_orders() -> dict[str, list[str]]:
    """Two customers with their orders (the commerce models, as the commerce demo seeder writes them)."""
    from apps.commerce.models import Customer, Order, OrderLine, Product

    product = Product.objects.create(sku="SKU-0001", title="Trail running shoes", category="shoes", price=Decimal("129.00"))
    alice = Customer.objects.create(external_id="alice", email="alice@example.com")
    bob = Customer.objects.create(external_id="bob", email="bob@example.com")
    now = timezone.now()
    orders = {"alice": [], "bob": []}
    for i, (customer, status) in enumerate([(alice, "shipped"), (alice, "delivered"), (bob, "paid")]):
        order = Order.objects.create(
            number=f"DS-90000{i + 1}",
            customer=customer,
            status=status,
            placed_at=now - dt.timedelta(days=3 - i),
            total=Decimal("129.00"),
            carrier="DHL" if status != "paid" else "",
            tracking_number=f"TRK{i}" if status != "paid" else "",
            estimated_delivery=(now + dt.timedelta(days=2)).date(),
        )
        OrderLine.objects.create(order=order, product=product, quantity=1, unit_price=Decimal("129.00"))
        orders[customer.external_id].append(order.number)
    return orders


def identified_conversation(site: Site, customer: str) -> Conversation:
    return session_start(site_key=site.site_key, customer_id=customer, signature=customer_signature(site=site, customer_external_id=customer))


def small_shop(customer: str = "dana") -> dict:
    """A small catalog in three categories with colours, sizes and waterproofing, and a customer with three orders
    like the demo's: delivered 10 days ago (shoes + coffee), shipped (a jacket), pending (shoes)."""
    from apps.commerce.models import Customer, Order, OrderLine, Product

    colours = ["black", "blue", "red", "green", "grey"]
    products = []
    for i in range(10):
        products.append(
            Product(
                sku=f"RUN-{i:02d}",
                title=f"Kestrel {['Road', 'Trail', 'Tempo', 'Daily', 'Fell'][i % 5]} Runner {i}",
                description="Running shoe with a cushioned sole.",
                category="running shoes",
                price=Decimal(60 + 20 * i),
                in_stock=i != 3,
                attributes={"colour": colours[i % 5], "sizes": ["40", "41", "42", "43"] if i % 2 else ["38", "39", "44"], "waterproof": i in (1, 6)},
            )
        )
        products.append(
            Product(
                sku=f"RAIN-{i:02d}",
                title=f"Stormline {['Packable Shell', 'Hiking Hardshell', 'City Raincoat', 'Commuter Parka', 'Race Jacket'][i % 5]} {i}",
                description="A rain jacket with taped seams.",
                category="rain jackets",
                price=Decimal(50 + 25 * i),
                attributes={"colour": colours[(i + 2) % 5], "sizes": ["S", "M", "L"] if i % 2 else ["XS", "XL"], "waterproof": True},
            )
        )
        products.append(
            Product(
                sku=f"COF-{i:02d}",
                title=f"Roastery North {['Espresso Blend', 'Light Roast', 'Decaf Blend', 'Dark Roast', 'Cold Brew Pack'][i % 5]} {i}",
                description="Whole coffee beans, 500 g.",
                category="coffee",
                price=Decimal(8 + 2 * i),
            )
        )
    Product.objects.bulk_create(products)
    by_sku = {p.sku: p for p in Product.objects.all()}
    person = Customer.objects.create(external_id=customer, email=f"{customer}@example.com")
    now = timezone.now()
    specs = [
        ("DS-700001", "delivered", now - dt.timedelta(days=13), [("RUN-01", 1), ("COF-02", 2)], (now - dt.timedelta(days=10)).date()),
        ("DS-700002", "shipped", now - dt.timedelta(days=2), [("RAIN-04", 1)], (now + dt.timedelta(days=2)).date()),
        ("DS-700003", "pending", now - dt.timedelta(hours=5), [("RUN-05", 1)], (now + dt.timedelta(days=5)).date()),
    ]
    for number, status, placed, lines, delivery in specs:
        order = Order.objects.create(number=number, customer=person, status=status, placed_at=placed, total=Decimal("100.00"), estimated_delivery=delivery)
        for sku, quantity in lines:
            OrderLine.objects.create(order=order, product=by_sku[sku], quantity=quantity, unit_price=by_sku[sku].price)
    return {"customer": customer, "orders": [s[0] for s in specs]}
