"""A month of three shops as replay lines: what ``aftersale demo`` plays through the engine.

About 210 orders over 30 days in two markets; some 29% of them get an after-sale case. Each shop
has a temperament: shop-lumen-audio (US) answers within hours and approves, shop-quiet-harbor
(US) never answers, so its timers decide, and shop-kedai-batik (MY) rejects often, its buyers
escalate and the platform rules, sometimes overturning the rejection.

Stories and their variants are dealt from shuffled bags, so every one of them happens whatever
the seed. Each case is followed by a tracker that knows its state and the policy's deadline for
it: every action lands at least an hour before its state times out, and the month replays with
no refused line. Deterministic for a seed: one random.Random, no wall clock.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aftersale.config import load_policy
from aftersale.domain.model import Kind, State
from aftersale.domain.policy import Policy

H = timedelta(hours=1)
MARGIN = H  # every action lands at least this long before its state's deadline
LAST_RETURN_OPEN = timedelta(days=38)  # after start, so the longest case ends by day 60


@dataclass(frozen=True)
class Shop:
    shop_id: str
    market: str
    currency: str
    temperament: str  # responsive | silent | strict
    ships_within: tuple[int, int]  # hours after payment (dispatch_by is 48 h)
    answers_within: tuple[int, int]  # hours the seller takes to act on a case (not silent)
    ratings: tuple[int, ...]  # weights of 1 to 5 stars
    replies: float  # share of chat messages answered
    reply_hours: tuple[int, int]
    complaints: float  # share of delivered orders with a complaint


SHOPS = (
    Shop("shop-lumen-audio", "US", "USD", "responsive", (3, 30), (1, 8), (1, 1, 3, 15, 30), 1.0,
         (0, 2), 0.01),
    Shop("shop-quiet-harbor", "US", "USD", "silent", (20, 68), (0, 0), (8, 6, 8, 8, 6), 0.2,
         (30, 60), 0.10),
    Shop("shop-kedai-batik", "MY", "MYR", "strict", (8, 52), (3, 20), (3, 4, 8, 12, 10), 0.9,
         (3, 20), 0.04),
)  # fmt: skip
# cents: (everyday, high value) ranges; high value is above the market's threshold (100 / 450)
PRICES = {"US": ((900, 9_000), (12_000, 60_000)), "MY": ((3_000, 38_000), (48_000, 240_000))}
STORIES = ("kept",) * 27 + (
    "free_cancel", "free_cancel", "seller_cancel", "late_cancel", "late_cancel",
    "not_received", "not_received", "partial_refund", "return", "return", "return",
)  # fmt: skip
PLAYS = {
    "responsive": {
        "late_cancel": ("approve", "withdraw"),
        "not_received": ("approve", "withdraw"),
        "partial_refund": ("approve",),
        "return": ("approve", "approve", "never_shipped", "withdraw"),
    },
    "silent": {
        "late_cancel": ("timeout", "shipped"),
        "not_received": ("timeout", "pod_timeout"),
        "partial_refund": ("timeout",),
        "return": ("timeout", "timeout", "never_shipped"),
    },
    "strict": {
        "late_cancel": ("reject", "reject", "approve"),
        "not_received": ("overturned", "pod_ruled"),
        "partial_refund": ("gave_up", "denied"),
        "return": ("overturned", "denied", "damaged_return", "gave_up"),
    },
}
RETURN_REASONS = ("damaged", "defective", "not_as_described", "wrong_item", "no_longer_needed",
                  "changed_mind")  # fmt: skip
SELLER_FAULT = frozenset({"damaged", "defective", "not_as_described", "wrong_item"})
RETURN_REJECTS = ("item_used", "description_matches_item", "hygiene_item_opened", "seal_broken",
                  "other")  # fmt: skip
PARTIAL_REJECTS = ("no_evidence_provided", "evidence_inconsistent", "description_matches_item")
ITEM_REJECTS = ("item_damaged_by_buyer", "missing_parts_returned", "wrong_item_returned")
EXTENSIONS = {"photo": "jpg", "video": "mp4", "tracking": "pdf", "document": "pdf"}


@dataclass
class _Month:
    rng: random.Random
    policy: Policy
    prefix: str
    first: datetime
    lines: list[tuple[datetime, int, dict[str, Any]]] = field(default_factory=list)
    bags: dict[str, list[str]] = field(default_factory=dict)

    def add(self, at: datetime, line_type: str, **fields: Any) -> None:
        self.lines.append((at, len(self.lines), {"at": _iso(at), "type": line_type, **fields}))

    def deal(self, key: str, options: Sequence[str]) -> str:
        """The next of ``options`` from a shuffled bag, refilled when empty."""
        bag = self.bags.setdefault(key, [])
        if not bag:
            bag.extend(self.rng.sample(list(options), len(options)))
        return bag.pop()

    def span(self, low_hours: int, high_hours: int) -> timedelta:
        """A random delay of at least a minute, between the two numbers of hours."""
        return timedelta(minutes=self.rng.randrange(max(low_hours * 60, 1), high_hours * 60))


@dataclass(frozen=True)
class _Order:
    order_id: str
    number: int
    shop: Shop
    amount: Decimal
    paid: datetime


@dataclass
class _Case:
    """One case as the generator expects the engine to see it: its state and when entered."""

    month: _Month
    case_id: str
    kind: Kind
    order: _Order
    amount: Decimal
    entered: datetime
    state: State = State.pending_review

    def deadline(self) -> datetime | None:
        market = self.order.shop.market
        return self.month.policy.deadline(self.kind, self.state, market, self.amount, self.entered)

    def act(self, hours: tuple[int, int], action: str, actor: str, to: State, **fields: Any) -> None:
        at = self.entered + self.month.span(*hours)
        due = self.deadline()
        if due is not None and at > due - MARGIN:
            raise AssertionError(f"{self.case_id}: {action} at {at} is too close to {due}")
        self.month.add(at, "case.action", case_id=self.case_id, action=action, actor=actor, **fields)
        self.state, self.entered = to, at

    def time_out(self, to: State) -> None:
        due = self.deadline()
        if due is None:
            raise AssertionError(f"{self.case_id}: {self.state} has no deadline")
        self.state, self.entered = to, due

    def seller_acts(self, action: str, to: State, **fields: Any) -> None:
        self.act(self.order.shop.answers_within, action, "seller", to, **fields)


def month_scenario(
    seed: int = 7, start: date = date(2026, 3, 1), prefix: str = "", orders: int = 210
) -> list[str]:
    """The month's lines as JSON strings in time order (about 5 lines an order)."""
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    month = _Month(random.Random(seed), load_policy(), prefix, first)
    minutes = sorted(month.rng.randrange(29 * 24 * 60) for _ in range(orders))
    for number, minute in enumerate(minutes):
        _order(month, SHOPS[number % len(SHOPS)], number, first + timedelta(minutes=minute))
    month.lines.sort(key=lambda item: (item[0], item[1]))
    return [json.dumps(line) for _, _, line in month.lines]


def _order(month: _Month, shop: Shop, number: int, paid: datetime) -> None:
    rng = month.rng
    story = month.deal(shop.shop_id, STORIES)
    low, high = PRICES[shop.market][rng.random() < (0.35 if story == "return" else 0.08)]
    amount = Decimal(rng.randrange(low, high)) / 100
    order = _Order(f"{month.prefix}{shop.market}-{100200 + number}", number, shop, amount, paid)
    month.add(paid, "order.paid", order_id=order.order_id, shop_id=shop.shop_id,
              buyer_id=f"buyer-{rng.randrange(10_000, 99_999)}", market=shop.market,
              currency=shop.currency, amount=f"{amount:.2f}", dispatch_by=_iso(paid + 48 * H))  # fmt: skip
    _chat(month, order)
    if story in ("free_cancel", "seller_cancel"):
        _cancel_at_once(month, order, by_seller=story == "seller_cancel")
        return
    shipped: datetime | None = paid + month.span(*shop.ships_within)
    if story == "late_cancel":
        shipped = _late_cancellation(month, order, paid + month.span(*shop.ships_within))
    if shipped is None:
        return
    month.add(shipped, "order.shipped", order_id=order.order_id, tracking=f"TRK{number:07d}")
    if story == "not_received":
        _not_received(month, order, shipped)
        return
    delivered = shipped + month.span(48, 144)
    month.add(delivered, "order.delivered", order_id=order.order_id)
    _review(month, order, delivered)
    if story == "partial_refund":
        _partial_refund(month, order, delivered)
    elif story == "return":
        _return(month, order, delivered)


def _open(month: _Month, order: _Order, at: datetime, kind: Kind, actor: str, reason: str,
          amount: Decimal | None = None, **extra: Any) -> _Case:  # fmt: skip
    case_id = f"{month.prefix}{CASE_CODES[kind]}-{100200 + order.number}"
    given = {} if amount is None else {"amount": f"{amount:.2f}"}
    month.add(at, "case.open", case_id=case_id, order_id=order.order_id, kind=kind.value,
              actor=actor, reason=reason, **given, **extra)  # fmt: skip
    return _Case(month, case_id, kind, order, order.amount if amount is None else amount, at)


CASE_CODES = {Kind.cancellation: "CX", Kind.refund_only: "RF", Kind.return_refund: "RR"}


def _cancel_at_once(month: _Month, order: _Order, by_seller: bool) -> None:
    """The buyer's free-hour cancellation (auto_approve) or the seller's own (seller_cancel)."""
    rng = month.rng
    if by_seller:
        reason = rng.choice(("out_of_stock", "out_of_stock", "pricing_error", "unable_to_ship"))
        _open(month, order, order.paid + month.span(2, 20), Kind.cancellation, "seller", reason)
        return
    at = order.paid + timedelta(minutes=rng.randrange(3, 56))
    reason = rng.choice(("ordered_by_mistake", "changed_mind", "found_cheaper"))
    _open(month, order, at, Kind.cancellation, "buyer", reason)


def _late_cancellation(month: _Month, order: _Order, shipped: datetime) -> datetime | None:
    """A cancellation after the free hour; when the order ships after all, or None."""
    reason = month.rng.choice(("found_cheaper", "wrong_address", "changed_mind"))
    opened = order.paid + month.span(2, 8)
    case = _open(month, order, opened, Kind.cancellation, "buyer", reason)
    play = month.deal(f"{order.shop.temperament}:late_cancel", PLAYS[order.shop.temperament]["late_cancel"])
    if play == "approve":
        case.seller_acts("approve", State.cancelled)
        return None
    if play == "timeout":
        case.time_out(State.cancelled)  # review_timeout
        return None
    if play == "shipped":
        return opened + month.span(6, 30)  # order_shipped closes the request
    if play == "withdraw":
        case.act((1, 4), "withdraw", "buyer", State.withdrawn)
    else:
        case.seller_acts("reject", State.closed, reject_reason="order_packed_awaiting_pickup")
    return max(shipped, case.entered + month.span(1, 6))


def _not_received(month: _Month, order: _Order, shipped: datetime) -> None:
    opened = shipped + month.span(6 * 24, 9 * 24)
    case = _open(month, order, opened, Kind.refund_only, "buyer", "not_received")
    play = _play(month, order, "not_received")
    if play == "withdraw":
        case.act((2, 20), "withdraw", "buyer", State.withdrawn, note="It was with a neighbour.")
    elif play == "approve":
        case.seller_acts("approve", State.refunded)
    elif play == "timeout":
        case.time_out(State.refunded)  # review_timeout
    elif play == "overturned":
        _reject(month, case, ("delivered_per_carrier",))
        _escalate_and_rule(month, case, "refund")
    else:  # the platform asks for proof of delivery
        case.act((1, 12), "request_pod", "platform", State.awaiting_pod)
        if play == "pod_timeout":
            case.time_out(State.refunded)
            return
        pod = _evidence(case, "tracking", "photo")
        case.seller_acts("submit_pod", State.platform_review, evidence=pod)
        outcome = month.rng.choice(("deny", "deny", "refund"))
        case.act((6, 40), "rule", "platform", RULED[outcome], outcome=outcome)


def _partial_refund(month: _Month, order: _Order, delivered: datetime) -> None:
    part = (order.amount * month.rng.choice((20, 25, 35, 50)) / 100).quantize(Decimal("0.01"))
    reason = month.rng.choice(("missing_item", "damaged_in_transit", "not_as_described"))
    opened = delivered + month.span(12, 72)
    case = _open(month, order, opened, Kind.refund_only, "buyer", reason, part,
                 evidence=_evidence_for(month, opened, order, "photo"))  # fmt: skip
    play = _play(month, order, "partial_refund")
    if play == "approve":
        case.seller_acts("approve", State.refunded)
    elif play == "timeout":
        case.time_out(State.refunded)  # review_timeout
    else:
        _reject(month, case, PARTIAL_REJECTS)
        if play == "gave_up":
            case.time_out(State.closed)  # escalation_timeout
        else:
            _escalate_and_rule(month, case, "deny")


def _return(month: _Month, order: _Order, delivered: datetime) -> None:
    latest = max(delivered + 12 * H, month.first + LAST_RETURN_OPEN)
    opened = min(delivered + month.span(24, 10 * 24), latest)
    reason = month.rng.choice(RETURN_REASONS)
    extra: dict[str, Any] = {"item_unused": True} if reason == "no_longer_needed" else {}
    if reason in SELLER_FAULT:
        extra["evidence"] = _evidence_for(month, opened, order, "photo", "video")
    case = _open(month, order, opened, Kind.return_refund, "buyer", reason, **extra)
    play = _play(month, order, "return")
    if play == "withdraw":
        case.act((1, 24), "withdraw", "buyer", State.withdrawn)
        return
    if order.shop.temperament == "silent":
        case.time_out(State.awaiting_return_shipment)  # review_timeout approves
    elif play in ("overturned", "denied", "gave_up"):
        _reject(month, case, RETURN_REJECTS)
        if play == "gave_up":
            case.time_out(State.closed)  # escalation_timeout
            return
        _escalate_and_rule(month, case, "return" if play == "overturned" else "deny")
        if play == "denied":
            return
    else:
        case.seller_acts("approve", State.awaiting_return_shipment)
    if play == "never_shipped":
        case.time_out(State.closed)  # ship_back_timeout
        return
    _ship_back(month, case, reject_item=play == "damaged_return")


def _ship_back(month: _Month, case: _Case, reject_item: bool) -> None:
    tracking = f"RET{month.rng.randrange(10**8, 10**9)}"
    case.act((12, 72), "ship_return", "buyer", State.return_in_transit, tracking=tracking)
    if case.order.shop.temperament == "silent":
        case.time_out(State.return_received)  # receipt_timeout
        case.time_out(State.refunded)  # refund_timeout
        return
    case.act((48, 120), "confirm_receipt", "seller", State.return_received)
    if not reject_item:
        case.seller_acts("refund", State.refunded)
        return
    case.seller_acts("reject_return", State.rejected, reject_reason=month.rng.choice(ITEM_REJECTS),
                     evidence=_evidence(case, "photo", "video"))  # fmt: skip
    _escalate_and_rule(month, case, month.rng.choice(("refund", "deny")))


RULED = {"refund": State.refunded, "return": State.awaiting_return_shipment, "deny": State.closed}


def _reject(month: _Month, case: _Case, codes: Sequence[str]) -> None:
    code = month.rng.choice(codes)
    note = {"note": "Photos show the item was worn before it was sent back."} if code == "other" else {}
    case.seller_acts("reject", State.rejected, reject_reason=code, **note)


def _escalate_and_rule(month: _Month, case: _Case, outcome: str) -> None:
    case.act((2, 30), "escalate", "buyer", State.platform_review, note="Please look at my photos.",
             evidence=_evidence(case, "photo"))  # fmt: skip
    case.act((6, 40), "rule", "platform", RULED[outcome], outcome=outcome)


def _play(month: _Month, order: _Order, story: str) -> str:
    temperament = order.shop.temperament
    return month.deal(f"{temperament}:{story}", PLAYS[temperament][story])


def _evidence(case: _Case, *kinds: str) -> list[dict[str, str]]:
    return [{"kind": kind, "uri": f"https://cdn.example/evidence/{case.case_id}-{case.state}-"
             f"{index}.{EXTENSIONS[kind]}"} for index, kind in enumerate(kinds, 1)]  # fmt: skip


def _evidence_for(month: _Month, at: datetime, order: _Order, *kinds: str) -> list[dict[str, str]]:
    stamp = at.strftime("%Y%m%d%H%M")
    return [{"kind": kind, "uri": f"https://cdn.example/evidence/{order.order_id}-{stamp}-"
             f"{index}.{EXTENSIONS[kind]}"} for index, kind in enumerate(kinds, 1)]  # fmt: skip


def _review(month: _Month, order: _Order, delivered: datetime) -> None:
    rng, shop = month.rng, order.shop
    if rng.random() < 0.4:
        rating = rng.choices(range(1, 6), weights=shop.ratings)[0]
        topic = rng.choices(("product", "service", "logistics"), weights=(6, 2, 2))[0]
        month.add(delivered + month.span(12, 6 * 24), "review.posted", order_id=order.order_id,
                  rating=rating, topic=topic)  # fmt: skip
    if rng.random() < shop.complaints:
        month.add(delivered + month.span(24, 8 * 24), "complaint.filed", order_id=order.order_id)


def _chat(month: _Month, order: _Order) -> None:
    rng, shop = month.rng, order.shop
    if rng.random() >= 0.2:
        return
    message_id = f"{month.prefix}MSG-{700200 + order.number}"
    asked = order.paid + month.span(1, 48)
    month.add(asked, "message.received", message_id=message_id, shop_id=shop.shop_id,
              order_id=order.order_id)  # fmt: skip
    if rng.random() < shop.replies:
        month.add(asked + month.span(*shop.reply_hours), "message.replied", message_id=message_id)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
