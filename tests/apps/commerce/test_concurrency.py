"""Two requests sending the same batch at the same time (a client retrying on a timeout): stored once, no errors."""

import threading

import pytest
from django.db import connection

from apps.commerce import services
from apps.commerce.models import Customer, Event, Product


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_batches_store_everything_once():
    services.product_upsert_many(rows=[{"sku": f"P{i}", "title": f"P {i}"} for i in range(20)])
    # Customers exist already: creating the same stubs would serialize the two requests before the event insert.
    services.customer_upsert_many(rows=[{"external_id": f"c{i}"} for i in range(50)])
    # Reversed in the second batch: the service must take its locks in one order, or PostgreSQL would deadlock.
    events = [{"event_id": f"e{i}", "type": "view", "sku": f"P{i % 20}", "customer_external_id": f"c{i % 50}"} for i in range(1500)]
    products = [{"sku": f"N{i}", "title": f"New {i}"} for i in range(300)]
    batches = [(events, products), (events[::-1], products[::-1])]
    results, failures = [], []
    start = threading.Barrier(len(batches))

    def send(rows: list[dict], catalog: list[dict]) -> None:
        try:
            start.wait(timeout=30)
            results.append((services.event_ingest_many(rows=rows), services.product_upsert_many(rows=catalog)))
        except Exception as exc:  # noqa: BLE001 - reported below with the test's failure
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=batch) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert Event.objects.count() == 1500 and Customer.objects.count() == 50 and Product.objects.count() == 320
    if connection.vendor == "postgresql":  # exact counts: the insert reports what it stored
        assert sum(event_result.created for event_result, _ in results) == 1500
    for event_result, product_result in results:
        assert event_result.errors == [] and event_result.created + event_result.duplicates == 1500
        assert product_result.errors == [] and product_result.created + product_result.duplicates + product_result.updated == 300
