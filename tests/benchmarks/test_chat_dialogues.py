"""The dialogue benchmark's own checks: its dialogue files load, and a wrong answer fails the check it should.

No server and no database: the shop is built by hand (the benchmark reads it from its database)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import chat_dialogues as bench


def _shop() -> bench.Shop:
    shop = bench.Shop.__new__(bench.Shop)
    shop.products = {
        "RAIN-1": bench.Product("RAIN-1", "Red shell", "rain jackets", Decimal("89.99"), True, {"colour": "red", "sizes": ["M"], "waterproof": True}),
        "RAIN-2": bench.Product("RAIN-2", "Blue shell", "rain jackets", Decimal("149.99"), True, {"colour": "blue", "sizes": ["L"], "waterproof": True}),
        "TEA-1": bench.Product("TEA-1", "Sencha", "tea", Decimal("6.99"), False, {}),
    }
    shop.orders = {
        "DS-100001": bench.Order("DS-100001", "delivered", "DHL", "DH4711000001", (("RUN-1", "running shoes"),)),
        "DS-100002": bench.Order("DS-100002", "shipped", "UPS", "1Z999", (("RAIN-2", "rain jackets"),)),
    }
    shop.secrets = ["DH4711000001", "1Z999"]
    shop.foreign_orders = {"DS-200001"}
    shop.foreign_tracking = {"DP1371752817"}
    shop.requested = set()
    return shop


def _reply(**bot: object) -> bench.Reply:
    return bench.Reply(201, "bot", [{"sender": "bot", "text": "", "answer_source": "catalog", **bot}], 10.0)


def _problems(turns: list[tuple[dict, bench.Reply]], signed_in: bool = False) -> list[str]:
    dialogue = bench.Dialogue("t", "catalog", signed_in, tuple(bench.Turn("…", expect) for expect, _ in turns))
    checker = bench.Checker(_shop(), dialogue)
    for i, (turn, (_, reply)) in enumerate(zip(dialogue.turns, turns, strict=True)):
        checker.check(i, turn, reply)
    return checker.problems


def _card(sku: str, price: str) -> dict:
    return {"sku": sku, "price": price}


def test_the_dialogue_files_load_with_enough_dialogues_per_flow() -> None:
    dialogues = bench.load_dialogues()
    flows = Counter(d.flow for d in dialogues)
    assert len(dialogues) >= 150
    assert set(bench.FLOW_ORDER) <= set(flows)
    assert min(flows.values()) >= 10


def test_catalog_cards_must_lie_inside_the_constraints() -> None:
    expect = {"catalog": {"category": "rain jackets", "price_max": 100}}
    assert _problems([(expect, _reply(products=[_card("RAIN-1", "89.99")], search={"total": 1}))]) == []
    problems = _problems([(expect, _reply(products=[_card("RAIN-1", "89.99"), _card("RAIN-2", "149.99")], search={"total": 2}))])
    assert problems == ["turn 1: catalog: card RAIN-2 price 149.99 > 100"]


def test_no_cards_when_the_catalog_has_matches_fails_and_none_needs_a_relaxation() -> None:
    assert (
        "no cards, but 1 products match"
        in _problems([({"catalog": {"category": "rain jackets", "colour": "red"}}, _reply(products=[], search={"total": 0}))])[0]
    )
    nothing = {"catalog": {"category": "tea", "price_max": 3}}
    empty = {"total": 0, "relax": [{"constraint": "price"}], "constraints": {"category": "tea"}}
    assert _problems([(nothing, _reply(products=[], search=empty))]) == []
    assert _problems([(nothing, _reply(products=[], search=empty | {"relax": []}))]) == [
        "turn 1: catalog: nothing matches {'category': 'tea', 'price_max': 3} and no relaxation is offered"
    ]


def test_invented_products_and_wrong_prices_fail_every_turn() -> None:
    problems = _problems([({}, _reply(products=[_card("RAIN-9", "10.00"), _card("RAIN-1", "9.99")]))])
    assert problems == ["turn 1: card 'RAIN-9' (None) is not in the catalog", "turn 1: card RAIN-1 says 9.99, the catalog 89.99"]


def test_cheaper_must_undercut_the_cheapest_card_shown() -> None:
    first = ({"catalog": {"category": "rain jackets"}}, _reply(products=[_card("RAIN-2", "149.99")], search={"total": 2}))
    assert _problems([first, ({"cheaper": True}, _reply(products=[_card("RAIN-1", "89.99")]))]) == []
    assert _problems([first, ({"cheaper": True}, _reply(products=[_card("RAIN-2", "149.99")]))]) == [
        "turn 2: cheaper than 149.99: card RAIN-2 price 149.99 not below 149.99"
    ]
    assert "no cards, but 1 products match" in _problems([first, ({"cheaper": True}, _reply(products=[]))])[0]


def test_an_anonymous_visitor_sees_no_order_details() -> None:
    leak = bench.Reply(201, "bot", [{"sender": "bot", "text": "DS-100001 went with DHL, DH4711000001", "answer_source": "order", "orders": ["DS-100001"]}], 1.0)
    assert _problems([({"sign_in": True}, leak)]) == [
        "turn 1: orders shown to an anonymous visitor: ['DS-100001']",
        "turn 1: tracking numbers leaked to an anonymous visitor: ['DH4711000001']",
        "turn 1: not asked to sign in",
    ]


def test_returns_need_the_right_line_and_eligibility() -> None:
    good = {"order": "DS-100001", "sku": "RUN-1", "eligible": True}
    expect = {"return": {"order": "DS-100001", "category": "running shoes"}}
    assert _problems([(expect, _reply(answer_source="returns", return_request=good))], signed_in=True) == []
    jacket = {"order": "DS-100002", "sku": "RAIN-2", "eligible": True}
    assert _problems([({"no_return": "DS-100002"}, _reply(answer_source="returns", return_request=jacket))], signed_in=True)[0].startswith(
        "turn 1: an eligible return request was opened"
    )
