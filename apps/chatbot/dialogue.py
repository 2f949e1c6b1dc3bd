"""What the bot remembers between the messages of one conversation (stored in ``Conversation.dialogue``).

* ``expecting``: the slot the bot just asked for — ``order_number`` (after listing the customer's orders) or
  ``return_item`` (after listing the items that could be returned); the next message fills it when it can.
* ``orders``: the order numbers the bot showed last, in the order shown ("the second one"), and ``order_items``
  the titles and categories of their items ("the jacket one").
* ``return_options``: the order lines offered for a return (id, order number, title, category).
* ``search``: the last product answer — its constraints, the SKUs shown so far, and their prices and colours —
  which "cheaper", "show more" or "in red" refine.

The state is forgotten after ``CHATBOT_DIALOGUE_TTL_SECONDS`` without a message, and the operator who takes a
conversation over sees it on the conversation page.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

MAX_REMEMBERED = 60  # SKUs shown in one search ("show more" never repeats them); bounded so the row stays small

EXPECTING_LABELS = {"order_number": "which order", "return_item": "which item to return", "": ""}


@dataclass
class DialogueState:
    expecting: str = ""
    orders: list[str] = field(default_factory=list)
    # Per order shown: the titles and categories of its items ("the jacket one").
    order_items: list[list[str]] = field(default_factory=list)
    return_options: list[dict[str, Any]] = field(default_factory=list)
    search: dict[str, Any] | None = None
    at: float = 0.0

    @classmethod
    def load(cls, data: Any, now: float | None = None) -> DialogueState:
        now = time.time() if now is None else now
        if not isinstance(data, dict) or now - float(data.get("at") or 0) > settings.CHATBOT_DIALOGUE_TTL_SECONDS:
            return cls()
        return cls(
            expecting=str(data.get("expecting") or ""),
            orders=[str(o) for o in data.get("orders") or []][:10],
            order_items=[[str(t) for t in items][:20] for items in data.get("order_items") or [] if isinstance(items, list)][:10],
            return_options=[o for o in data.get("return_options") or [] if isinstance(o, dict)][:10],
            search=data.get("search") if isinstance(data.get("search"), dict) else None,
            at=float(data.get("at") or 0),
        )

    def dump(self) -> dict[str, Any]:
        self.at = time.time()
        if self.search is not None:
            self.search["shown"] = self.search.get("shown", [])[-MAX_REMEMBERED:]
        return asdict(self)

    def summary(self) -> list[str]:
        """Lines for the operator: what the bot is waiting for and what it last showed."""
        lines = []
        if self.expecting:
            lines.append(f"Waiting for the customer to say {EXPECTING_LABELS.get(self.expecting, self.expecting)}.")
        if self.orders:
            lines.append("Orders shown: " + ", ".join(self.orders))
        if self.return_options:
            lines.append("Offered for return: " + "; ".join(f"{o.get('title')} ({o.get('order')})" for o in self.return_options))
        if self.search:
            described = self.search.get("described") or []
            lines.append(f"Last product search: {', '.join(described) or 'anything'} — {len(self.search.get('shown', []))} shown")
        return lines
