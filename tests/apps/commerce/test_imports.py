"""The import commands on small files: counts, per-row errors with line numbers, idempotency."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.commerce.models import Customer, Event, Product
from tests.apps.commerce.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_import_catalog_csv(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(
        "sku,title,description,category,price,in_stock,attributes\n"
        'TEA-1,Sencha,Grassy,tea,6.50,true,"{""origin"": ""Japan""}"\n'
        "TEA-2,Assam,,tea,,false,\n"
        ",No sku,,tea,1,true,\n"
        "TEA-3,Bad price,,tea,abc,true,\n"
        "TEA-4,Bad json,,tea,1,true,{oops\n"
    )
    out = _call("import_catalog_csv", str(path))
    assert "products: 2 created, 0 updated, 0 duplicates" in out
    assert "3 rows rejected" in out and "line 4 (products): sku:" in out and "line 5 (products): price:" in out and "line 6 (products): attributes" in out
    sencha = Product.objects.get(sku="TEA-1")
    assert sencha.attributes == {"origin": "Japan"} and str(sencha.price) == "6.50"
    assert Product.objects.get(sku="TEA-2").in_stock is False
    assert "products: 0 created, 0 updated, 2 duplicates" in _call("import_catalog_csv", str(path))


def test_import_catalog_csv_rejects_a_file_without_the_columns(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("id,name\n1,x\n")
    with pytest.raises(CommandError, match="missing column"):
        _call("import_catalog_csv", str(path))
    with pytest.raises(CommandError, match="not a file"):
        _call("import_catalog_csv", str(tmp_path / "absent.csv"))


def test_import_interactions_csv(tmp_path):
    ProductFactory(sku="A")
    path = tmp_path / "events.csv"
    path.write_text(
        "user,item,event,weight,timestamp\n"
        "u1,A,view,,2026-03-01T10:00:00\n"  # naive ISO: read as UTC
        "u1,A,rating,4,1767225600\n"  # epoch seconds
        "u2,A,purchase,2,2026-03-02T10:00:00+01:00\n"
        "u2,B,view,,2026-03-02T10:00:00Z\n"  # unknown item
        "u3,A,wishlist,,2026-03-02T10:00:00Z\n"
        "u3,A,rating,9,2026-03-02T10:00:00Z\n"
    )
    out = _call("import_interactions_csv", str(path))
    assert "events: 3 created, 0 updated, 0 duplicates" in out
    assert "line 5 (events): sku: unknown sku 'B'; upsert the product first." in out
    assert "line 6 (events): event: Unknown event 'wishlist'" in out and "line 7 (events): value" in out
    assert Customer.objects.get(external_id="u1").is_stub
    rating = Event.objects.get(type="rating")
    assert rating.value == 4.0 and rating.occurred_at.timestamp() == 1767225600
    assert Event.objects.get(type="view").occurred_at.isoformat() == "2026-03-01T10:00:00+00:00"

    again = _call("import_interactions_csv", str(path), "--create-missing-products")
    assert "products: 1 created" in again and "events: 1 created, 0 updated, 3 duplicates" in again
    assert Product.objects.get(sku="B").title == "Item B" and Event.objects.count() == 4


def test_import_interactions_csv_streams_in_batches_and_keeps_the_first_errors(tmp_path, monkeypatch):
    from apps.commerce import imports, services

    ProductFactory(sku="A")
    lines = ["user,item,event,weight,timestamp"]
    for k in range(9):  # rows 2..10: a new product every third row, a bad event type every fourth
        lines.append(f"u{k},{'A' if k % 3 else f'N{k}'},{'wish' if k % 4 == 3 else 'view'},,2026-03-01T10:0{k}:00Z")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(imports, "BATCH", 2)
    monkeypatch.setattr(imports, "MAX_KEPT_ERRORS", 1)
    calls = []
    ingest = services.event_ingest_many
    monkeypatch.setattr(services, "event_ingest_many", lambda *, rows: calls.append(len(rows)) or ingest(rows=rows))

    report = imports.import_interactions_csv(path, create_missing_products=True)
    assert calls == [2, 2, 2, 1]  # never more than a batch in memory
    assert report.counts["events"].created == 7 and report.counts["products"].created == 2  # N3 is on a rejected row
    assert report.rejected == 2 and [e["line"] for e in report.errors] == [5]
    assert "2 rows rejected (first 1):" in report.summary_lines()
    # Every event found its product: the batch's products were created before its events.
    assert Event.objects.count() == 7 and set(Product.objects.values_list("sku", flat=True)) == {"A", "N0", "N6"}


def test_import_movielens(tmp_path):
    (tmp_path / "u.item").write_bytes(
        "1|Toy Story (1995)|01-Jan-1995||http://imdb/1|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
        "2|Amélie (2001)|01-Jan-2001||http://imdb/2|0|0|0|0|0|1|0|0|0|0|0|0|0|0|1|0|0|0|0\n".encode("latin-1")
    )
    (tmp_path / "u.data").write_text("7\t1\t5\t881250949\n7\t2\t3\t881250950\n8\t1\t4\t881250951\n8\t3\t4\t881250952\nbroken line\n")
    out = _call("import_movielens", str(tmp_path))
    assert "products: 2 created" in out and "customers: 2 created" in out and "events: 3 created" in out
    assert "unknown sku 'ml-3'" in out and "line 5 (events)" in out
    toy = Product.objects.get(sku="ml-1")
    assert (toy.title, toy.category, toy.attributes["genres"]) == ("Toy Story (1995)", "Animation", ["Animation", "Children's", "Comedy"])
    assert Product.objects.get(sku="ml-2").title == "Amélie (2001)"
    event = Event.objects.get(event_id="ml100k-7-1")
    assert (event.type, event.value, event.customer.external_id) == ("rating", 5.0, "ml-7")
    assert not Customer.objects.get(external_id="ml-7").is_stub

    again = _call("import_movielens", str(tmp_path))
    assert "products: 0 created, 0 updated, 2 duplicates" in again and "events: 0 created, 0 updated, 3 duplicates" in again
    assert Event.objects.count() == 3
