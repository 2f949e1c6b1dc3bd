"""Factories for the shop data."""

from datetime import UTC, datetime
from decimal import Decimal

import factory

from apps.commerce.models import Customer, Event, EventType, Order, OrderLine, Product


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    title = factory.Sequence(lambda n: f"Product {n}")
    category = "coffee"
    price = Decimal("9.90")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"cust-{n}")
    name = factory.Sequence(lambda n: f"Customer {n}")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"ORD-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    placed_at = factory.Sequence(lambda n: datetime(2026, 1, 1 + n % 28, tzinfo=UTC))


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    event_id = factory.Sequence(lambda n: f"evt-{n}")
    type = EventType.VIEW
    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory)
    occurred_at = factory.Sequence(lambda n: datetime(2026, 2, 1, tzinfo=UTC).replace(minute=n % 60, second=n // 60 % 60))
