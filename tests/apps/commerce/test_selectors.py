"""Selectors other apps build on: order privacy, histories, the interaction log, feedback counts."""

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from apps.commerce import selectors
from apps.commerce.models import Event, EventType
from tests.apps.commerce.factories import CustomerFactory, EventFactory, OrderFactory, OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_order_for_customer_never_reveals_someone_elses_order():
    dana, eve = CustomerFactory(external_id="dana"), CustomerFactory(external_id="eve")
    line = OrderLineFactory(order=OrderFactory(number="DS-1", customer=dana))
    order = selectors.order_for_customer(number="DS-1", external_id="dana")
    assert order is not None and [li.product.sku for li in order.lines.all()] == [line.product.sku]
    assert selectors.order_for_customer(number="DS-1", external_id="eve") is None
    assert selectors.order_for_customer(number="DS-404", external_id="dana") is None
    assert selectors.order_for_customer(number="DS-1", external_id="") is None
    assert selectors.customer_orders(external_id="eve") == [] and eve.pk


def test_customer_orders_newest_first_with_lines_prefetched(django_assert_num_queries):
    dana = CustomerFactory(external_id="dana")
    old = OrderFactory(customer=dana, placed_at=datetime(2026, 1, 1, tzinfo=UTC))
    new = OrderFactory(customer=dana, placed_at=datetime(2026, 2, 1, tzinfo=UTC))
    OrderLineFactory(order=old)
    OrderLineFactory(order=new)
    with django_assert_num_queries(2):  # orders with customers, then lines with products: none per order
        orders = selectors.customer_orders(external_id="dana")
        assert [o.number for o in orders] == [new.number, old.number]
        assert all(line.product.title for o in orders for line in o.lines.all())
    assert len(selectors.customer_orders(external_id="dana", limit=1)) == 1


def test_interaction_log_columns():
    c1, c2 = CustomerFactory(), CustomerFactory()
    p = ProductFactory()
    t0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    EventFactory(customer=c1, product=p, type=EventType.VIEW, occurred_at=t0)
    EventFactory(customer=c2, product=p, type=EventType.RATING, value=4.5, occurred_at=t0.replace(hour=13))
    EventFactory(customer=None, session_id="anon", product=p, occurred_at=t0)
    EventFactory(customer=c1, product=p, type=EventType.IMPRESSION, recommendation_id="r", occurred_at=t0)

    log = selectors.interaction_log()
    assert len(log) == 2
    assert log.customer_ids.dtype == np.int64 and log.product_ids.dtype == np.int64 and log.values.dtype == np.float64
    assert log.customer_ids.tolist() == [c1.pk, c2.pk] and log.product_ids.tolist() == [p.pk, p.pk]
    assert log.types.dtype == np.int8 and log.type_labels().tolist() == ["view", "rating"]
    assert [log.type_names[t] for t in log.types] == ["view", "rating"]
    assert math.isnan(log.values[0]) and log.values[1] == 4.5
    assert log.timestamps.tolist() == [t0.timestamp(), t0.timestamp() + 3600]

    assert selectors.interaction_log(types=["impression"]).type_labels().tolist() == ["impression"]
    assert len(selectors.interaction_log(since=t0.replace(hour=12, minute=30))) == 1
    empty = selectors.interaction_log(types=["purchase"])
    assert len(empty) == 0 and empty.customer_ids.dtype == np.int64


def test_history_product_ids_catalog_texts_and_feedback_counts():
    c = CustomerFactory(external_id="c")
    a = ProductFactory(title="Alpha", category="tea", description="Green.")
    b = ProductFactory(title="Beta", category="", description="")
    EventFactory(customer=c, product=a, type=EventType.PURCHASE, occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    EventFactory(customer=c, product=b, type=EventType.VIEW, occurred_at=datetime(2026, 1, 2, tzinfo=UTC))
    EventFactory(customer=c, product=b, type=EventType.IMPRESSION, recommendation_id="r1")
    EventFactory(customer=c, product=b, type=EventType.CLICK, recommendation_id="r1")
    EventFactory(customer=None, session_id="s", product=b, type=EventType.IMPRESSION, recommendation_id="r1")

    assert [e.product.title for e in selectors.customer_history(external_id="c")][-2:] == ["Beta", "Alpha"]
    assert selectors.customer_product_ids(customer_id=c.pk) == {a.pk, b.pk}
    assert selectors.customer_product_ids(customer_id=c.pk, types=["purchase"]) == {a.pk}
    assert selectors.catalog_texts() == [(a.pk, "Alpha. tea. Green."), (b.pk, "Beta")]
    assert selectors.catalog_texts(product_ids=[b.pk]) == [(b.pk, "Beta")]
    assert selectors.recommendation_feedback_counts() == {"r1": {"impression": 2, "click": 1, "purchase": 0}}
    assert selectors.recommendation_feedback_counts(recommendation_ids=["r2"]) == {"r2": {"impression": 0, "click": 0, "purchase": 0}}


def test_catalog_selectors():
    ProductFactory(sku="A1", title="Trail shoe", category="running shoes")
    ProductFactory(sku="B1", title="Green tea", category="tea", in_stock=False)
    assert selectors.product_get(sku="A1").title == "Trail shoe" and selectors.product_get(sku="none") is None
    assert set(selectors.products_by_skus(skus=["A1", "B1", "C"])) == {"A1", "B1"}
    assert selectors.category_list() == ["running shoes", "tea"]
    assert [p.sku for p in selectors.product_list(search="TEA")] == ["B1"]
    assert [p.sku for p in selectors.product_list(in_stock=True)] == ["A1"]
    assert [p.sku for p in selectors.product_list(category="tea")] == ["B1"]
    ids = {p.pk for p in selectors.product_list()}
    assert set(selectors.products_by_ids(ids=ids)) == ids


def _same_log(a: selectors.InteractionLog, b: selectors.InteractionLog) -> None:
    for name in ("customer_ids", "product_ids", "types", "values", "timestamps"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        np.testing.assert_array_equal(left, right, err_msg=name)


def test_interaction_log_binary_copy_matches_the_orm_in_small_blocks(monkeypatch):
    customers, products = CustomerFactory.create_batch(3), ProductFactory.create_batch(4)
    kinds = [EventType.VIEW, EventType.ADD_TO_CART, EventType.PURCHASE, EventType.RATING, EventType.CLICK]
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    for k in range(60):
        kind = kinds[k % len(kinds)]
        value = 1.0 + k % 5 if kind in (EventType.RATING, EventType.PURCHASE) else None
        # Same timestamp for pairs: the id breaks the tie, on both paths.
        EventFactory(customer=customers[k % 3], product=products[k % 4], type=kind, value=value, occurred_at=t0.replace(minute=k // 2))
    # A type stored outside EventType (e.g. by an old import) is code -1, never an error.
    odd = EventFactory(customer=customers[0], product=products[0], occurred_at=t0.replace(hour=2))
    Event.objects.filter(pk=odd.pk).update(type="wishlist")

    # A few rows per block, so rows and the header are split across blocks.
    monkeypatch.setattr(selectors, "_COPY_BLOCK", 3 * selectors._COPY_ROW.itemsize + 5)
    monkeypatch.setattr(selectors, "_ITERATOR_CHUNK", 7)
    log = selectors.interaction_log()
    assert len(log) == 49 and log.types.dtype == np.int8
    assert log.types[-1] == -1 and log.type_labels()[-1] == "" and "click" not in log.type_labels().tolist()
    assert np.all(np.diff(log.timestamps) >= 0)
    _same_log(log, selectors._interaction_log_iterated(None, list(map(str, selectors.FEEDBACK_TYPES)), exclude=True))

    since = t0.replace(minute=20)
    for types in (["rating", "purchase"], ["click"], []):
        copied = selectors.interaction_log(since=since, types=types)
        _same_log(copied, selectors._interaction_log_iterated(since, types, exclude=False))
        assert set(copied.type_labels().tolist()) == set(types) and (copied.timestamps >= since.timestamp()).all()
    ratings = selectors.interaction_log(types=["rating"])
    assert len(ratings) == 12 and not np.isnan(ratings.values).any()
    assert np.isnan(selectors.interaction_log(types=["view"]).values).all()


def test_interaction_log_types_map_onto_the_recommender_codes():
    from ml.recommenders.data import EVENT_TYPES, Interactions

    c, p = CustomerFactory(), ProductFactory()
    for kind in (EventType.RATING, EventType.CLICK, EventType.VIEW):
        EventFactory(customer=c, product=p, type=kind, value=4.0 if kind == EventType.RATING else None)
    interactions = Interactions.from_log(selectors.interaction_log(types=["rating", "click", "view"]))
    assert interactions.types.dtype == np.int8
    assert interactions.types.tolist() == [EVENT_TYPES.index("rating"), -1, EVENT_TYPES.index("view")]
    assert interactions.describe()["by_type"] == {"other": 1, "view": 1, "rating": 1}


def test_customer_ids_active_since_in_chunks():
    old, new, newer, anon_only = CustomerFactory.create_batch(4)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    EventFactory(customer=old, occurred_at=t0.replace(day=1))
    for customer in (new, newer, new):
        EventFactory(customer=customer, occurred_at=t0.replace(day=5))
    EventFactory(customer=anon_only, type=EventType.IMPRESSION, recommendation_id="r", occurred_at=t0.replace(day=5))
    EventFactory(customer=None, session_id="s", occurred_at=t0.replace(day=5))
    chunks = list(selectors.customer_ids_active_since(since=t0.replace(day=2), chunk_size=1))
    assert chunks == [[new.pk], [newer.pk]]


def test_log_columns_grow_past_the_count_and_drop_an_unused_tail():
    # Events ingested between the count and the read grow the columns; deleted ones leave the tail unused.
    def block(start: int, n: int) -> tuple:
        ids = np.arange(start, start + n)
        return ids, ids + 100, (ids % 4).astype(np.int8), ids * 0.5, ids * 10.0

    grown = selectors._LogColumns(2)
    grown.add(*block(0, 3))
    grown.add(*block(3, 4))
    log = grown.log()
    assert log.customer_ids.tolist() == list(range(7)) and log.product_ids.tolist() == list(range(100, 107))
    assert log.types.dtype == np.int8 and log.timestamps.tolist() == [k * 10.0 for k in range(7)]
    roomy = selectors._LogColumns(10)
    roomy.add(*block(0, 3))
    assert len(roomy.log()) == 3 and roomy.log().values.tolist() == [0.0, 0.5, 1.0]
    assert len(selectors._LogColumns(0).log()) == 0
