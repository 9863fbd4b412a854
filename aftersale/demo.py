"""A month of three shops as replay lines: what ``aftersale demo`` plays through the engine.

Deterministic for a seed. Each order gets a story (cancelled at once, cancelled later, out of
stock, never delivered, returned, kept) and each shop a temperament: a responsive shop answers
within hours, a silent one never does (its timers fire), a strict one rejects and buyers
escalate. Follow-up instants come from the policy's own deadlines, so every line is valid when
it is replayed and the month replays with no refused line.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aftersale.config import load_policy
from aftersale.domain.model import Kind, State
from aftersale.domain.policy import Policy

H = timedelta(hours=1)
D = timedelta(days=1)


@dataclass(frozen=True)
class Shop:
    shop_id: str
    market: str
    currency: str
    temperament: str  # responsive | silent | strict


SHOPS = (
    Shop("shop-lumen-audio", "US", "USD", "responsive"),
    Shop("shop-quiet-harbor", "US", "USD", "silent"),
    Shop("shop-kedai-batik", "MY", "MYR", "strict"),
)


@dataclass
class _Month:
    rng: random.Random
    policy: Policy
    prefix: str
    lines: list[tuple[datetime, int, dict[str, Any]]] = field(default_factory=list)

    def add(self, at: datetime, line_type: str, **fields: Any) -> None:
        line = {"at": at.isoformat().replace("+00:00", "Z"), "type": line_type, **fields}
        self.lines.append((at, len(self.lines), line))

    def act(self, at: datetime, case_id: str, action: str, actor: str, **fields: Any) -> None:
        self.add(at, "case.action", case_id=case_id, action=action, actor=actor, **fields)

    def deadline(
        self, kind: Kind, state: State, shop: Shop, amount: Decimal, at: datetime
    ) -> datetime:
        moment = self.policy.deadline(kind, state, shop.market, amount, at)
        assert moment is not None
        return moment


def month_scenario(
    seed: int = 7, start: date = date(2026, 3, 1), prefix: str = "", orders: int = 300
) -> list[str]:
    """The month's lines as JSON strings, in time order (about 4.5 lines an order)."""
    month = _Month(random.Random(seed), load_policy(), prefix)
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    for number in range(orders):
        shop = SHOPS[number % len(SHOPS)]
        paid = first + timedelta(minutes=month.rng.randrange(0, 29 * 24 * 60))
        _order(month, shop, f"{prefix}{shop.market}-{100200 + number}", paid)
    month.lines.sort(key=lambda item: (item[0], item[1]))
    return [json.dumps(line) for _, _, line in month.lines]


def _order(month: _Month, shop: Shop, order_id: str, paid: datetime) -> None:
    rng = month.rng
    high = rng.random() < 0.1
    amount = Decimal(rng.randrange(12000, 60000) if high else rng.randrange(900, 9000)) / 100
    if shop.currency == "MYR":
        amount *= 4
    month.add(
        paid,
        "order.paid",
        order_id=order_id,
        shop_id=shop.shop_id,
        buyer_id=f"buyer-{rng.randrange(1000, 9999)}",
        market=shop.market,
        currency=shop.currency,
        amount=f"{amount:.2f}",
        dispatch_by=_z(paid + 2 * D),
    )
    case_id = order_id.replace(f"{shop.market}-", "AS-", 1)
    fate = rng.random()
    if fate < 0.06:
        month.add(
            paid + rng.randrange(5, 55) * timedelta(minutes=1),
            "case.open",
            case_id=case_id,
            order_id=order_id,
            kind="cancellation",
            actor="buyer",
            reason=rng.choice(["changed_mind", "ordered_by_mistake"]),
        )
        return
    if fate < 0.09:
        month.add(
            paid + rng.randrange(3, 20) * H,
            "case.open",
            case_id=case_id,
            order_id=order_id,
            kind="cancellation",
            actor="seller",
            reason="out_of_stock",
        )
        return
    shipped = paid + rng.randrange(4, 40) * H + (30 * H if shop.temperament == "silent" else 0 * H)
    if fate < 0.16:
        still_ships = _late_cancellation(month, shop, f"{case_id}-X", order_id, paid, shipped)
        if still_ships is None:
            return
        shipped = still_ships
    month.add(shipped, "order.shipped", order_id=order_id, tracking=f"1Z{rng.randrange(10**9)}")
    _chat(month, shop, order_id, paid)
    if 0.16 <= fate < 0.21:
        _never_delivered(month, shop, case_id, order_id, shipped, amount)
        return
    delivered = shipped + rng.randrange(2, 6) * D + rng.randrange(0, 10) * H
    month.add(delivered, "order.delivered", order_id=order_id)
    _review(month, shop, order_id, delivered)
    if fate < 0.36:
        _return(month, shop, case_id, order_id, delivered, amount)
    elif fate < 0.40:
        _partial_refund(month, shop, case_id, order_id, delivered, amount)


def _late_cancellation(
    month: _Month, shop: Shop, case_id: str, order_id: str, paid: datetime, shipped: datetime
) -> datetime | None:
    """A buyer asks to cancel after the free hour; the shipping date after it, or None."""
    opened = paid + month.rng.randrange(2, 6) * H
    month.add(
        opened,
        "case.open",
        case_id=case_id,
        order_id=order_id,
        kind="cancellation",
        actor="buyer",
        reason=month.rng.choice(["found_cheaper", "wrong_address"]),
    )
    if shop.temperament == "responsive":
        if month.rng.random() < 0.3:  # the buyer changes their mind again
            month.act(opened + 1 * H, case_id, "withdraw", "buyer")
            return max(shipped, opened + 2 * H)
        month.act(opened + 2 * H, case_id, "approve", "seller")
        return None
    if shop.temperament == "silent":
        if month.rng.random() < 0.5:  # shipping closes the request (order_shipped)
            return opened + 20 * H
        return None  # review_timeout cancels it after 48 h
    month.act(
        opened + 3 * H, case_id, "reject", "seller", reject_reason="order_packed_awaiting_pickup"
    )
    return max(shipped, opened + 4 * H)


def _never_delivered(
    month: _Month, shop: Shop, case_id: str, order_id: str, shipped: datetime, amount: Decimal
) -> None:
    opened = shipped + 7 * D
    month.add(
        opened,
        "case.open",
        case_id=case_id,
        order_id=order_id,
        kind="refund_only",
        actor="buyer",
        reason="not_received",
    )
    if month.rng.random() < 0.4:  # the platform asks the seller for proof of delivery
        month.act(opened + 2 * H, case_id, "request_pod", "platform")
        if shop.temperament != "silent":  # silent: pod_timeout refunds
            month.act(
                opened + 10 * H,
                case_id,
                "submit_pod",
                "seller",
                evidence=[{"kind": "tracking", "uri": f"https://cdn.example/pod/{case_id}.pdf"}],
            )
            month.act(opened + 20 * H, case_id, "rule", "platform", outcome="deny")
    elif shop.temperament == "responsive":
        if month.rng.random() < 0.25:  # it turned up at a neighbour's
            month.act(opened + 1 * H, case_id, "withdraw", "buyer", note="Found it, thanks.")
            return
        month.act(opened + 5 * H, case_id, "approve", "seller")
    elif shop.temperament == "strict":
        month.act(
            opened + 10 * H, case_id, "reject", "seller", reject_reason="delivered_per_carrier"
        )
        month.act(opened + 20 * H, case_id, "escalate", "buyer", note="Nothing arrived.")
        month.act(opened + 30 * H, case_id, "rule", "platform", outcome="refund")


def _return(
    month: _Month, shop: Shop, case_id: str, order_id: str, delivered: datetime, amount: Decimal
) -> None:
    rng = month.rng
    opened = delivered + rng.randrange(1, 10) * D + rng.randrange(0, 12) * H
    reason = rng.choice(
        [
            "damaged",
            "defective",
            "not_as_described",
            "wrong_item",
            "no_longer_needed",
            "changed_mind",
        ]
    )
    extra = {"item_unused": True} if reason == "no_longer_needed" else {}
    month.add(
        opened,
        "case.open",
        case_id=case_id,
        order_id=order_id,
        kind="return_refund",
        actor="buyer",
        reason=reason,
        **extra,
    )
    if rng.random() < 0.07:
        month.act(opened + 2 * H, case_id, "withdraw", "buyer")
        return
    if shop.temperament == "strict":
        month.act(opened + 6 * H, case_id, "reject", "seller", reject_reason="item_used")
        if rng.random() < 0.3:
            return  # the buyer lets it close: escalation_timeout
        month.act(
            opened + 1 * D,
            case_id,
            "escalate",
            "buyer",
            evidence=[{"kind": "photo", "uri": f"https://cdn.example/ev/{case_id}.jpg"}],
        )
        if rng.random() < 0.35:
            month.act(opened + 2 * D, case_id, "rule", "platform", outcome="deny")
            return
        month.act(opened + 2 * D, case_id, "rule", "platform", outcome="return")
        _ship_back(month, shop, case_id, opened + 2 * D)
        return
    if shop.temperament == "responsive":
        approved = opened + 4 * H
        month.act(approved, case_id, "approve", "seller")
    else:
        approved = month.deadline(Kind.return_refund, State.pending_review, shop, amount, opened)
    if rng.random() < 0.12:
        return  # the buyer never ships it back: ship_back_timeout closes the case
    _ship_back(month, shop, case_id, approved)


def _ship_back(month: _Month, shop: Shop, case_id: str, approved: datetime) -> None:
    sent = approved + 1 * D + month.rng.randrange(0, 12) * H
    month.act(sent, case_id, "ship_return", "buyer", tracking=f"RET{month.rng.randrange(10**8)}")
    if shop.temperament == "silent":
        return  # receipt_timeout after 8 days, then refund_timeout after 2 more
    received = sent + 3 * D
    month.act(received, case_id, "confirm_receipt", "seller")
    month.act(received + 5 * H, case_id, "refund", "seller")


def _partial_refund(
    month: _Month, shop: Shop, case_id: str, order_id: str, delivered: datetime, amount: Decimal
) -> None:
    opened = delivered + 2 * D
    part = (amount / 3).quantize(Decimal("0.01"))
    month.add(
        opened,
        "case.open",
        case_id=case_id,
        order_id=order_id,
        kind="refund_only",
        actor="buyer",
        reason="missing_item",
        amount=f"{part:.2f}",
    )
    if shop.temperament != "silent":
        month.act(opened + 8 * H, case_id, "approve", "seller")


def _review(month: _Month, shop: Shop, order_id: str, delivered: datetime) -> None:
    rng = month.rng
    if rng.random() > 0.45:
        return
    low = {"responsive": 4, "strict": 3, "silent": 1}[shop.temperament]
    month.add(
        delivered + rng.randrange(1, 5) * D,
        "review.posted",
        order_id=order_id,
        rating=rng.randrange(low, 6),
        topic=rng.choice(["product", "service", "logistics"]),
    )
    if shop.temperament == "silent" and rng.random() < 0.15:
        month.add(delivered + 6 * D, "complaint.filed", order_id=order_id)


def _chat(month: _Month, shop: Shop, order_id: str, paid: datetime) -> None:
    rng = month.rng
    if rng.random() > 0.2:
        return
    message_id = f"{month.prefix}MSG-{order_id.removeprefix(month.prefix)}"
    asked = paid + rng.randrange(1, 30) * H
    month.add(
        asked, "message.received", message_id=message_id, shop_id=shop.shop_id, order_id=order_id
    )
    delay = {"responsive": 1, "strict": 9, "silent": 30}[shop.temperament] * H
    if shop.temperament != "silent" or rng.random() < 0.3:
        month.add(asked + delay, "message.replied", message_id=message_id)


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
