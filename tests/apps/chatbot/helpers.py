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
