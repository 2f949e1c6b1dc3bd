from ml.nlp.entities import extract_entities


def test_order_numbers_in_every_spelling():
    e = extract_entities("Where are DS-100001, ds100002 and DS 100003? Also DS-100001 again.")
    assert e.order_numbers == ["DS-100001", "DS-100002", "DS-100003"]


def test_emails_lowercased_and_unique():
    e = extract_entities("Mail Jane.Doe+shop@Example.com or jane.doe+shop@example.com, not user@localhost")
    assert e.emails == ["jane.doe+shop@example.com"]


def test_skus_with_prefix_or_after_the_word():
    e = extract_entities("Is SKU-0042 in stock? And sku: ABC-12-XL, also sku_77")
    assert e.skus == ["SKU-0042", "SKU_77", "ABC-12-XL"]


def test_quantities_from_digits_and_words_not_from_order_numbers():
    e = extract_entities("I want 3 pairs of socks and two shirts, qty: 5, for order DS-100001")
    assert e.quantities == [3, 2, 5]
    assert e.order_numbers == ["DS-100001"]


def test_nothing_found_in_plain_text():
    e = extract_entities("hello there")
    assert e.to_dict() == {"order_numbers": [], "emails": [], "skus": [], "quantities": []}
