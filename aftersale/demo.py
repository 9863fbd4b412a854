"""A month of three shops as replay lines: what ``aftersale demo`` plays through the engine.

About 210 orders over 30 days in two markets; some 29% of them get an after-sale case. Each shop
has a temperament: shop-lumen-audio (US) answers within hours and approves, shop-quiet-harbor
(US) never answers, so its timers decide, and shop-kedai-batik (MY) rejects often, its buyers
escalate and the platform rules, sometimes overturning the rejection.

Stories and their variants are dealt from shuffled bags rather than drawn independently, so a
month of the default size tells every story and, in practice, every variant. Each case is
followed by a tracker that knows its state and the policy's deadline for it: every action lands
at least an hour before its state times out, and the month replays with no refused line.
Deterministic for a seed: one random.Random, no wall clock.
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
PLAYED = timedelta(days=60)  # the demo replays until then: every case has ended


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
# By temperament: hours from payment to shipping (dispatch_by is 48 h), hours to act on a case
# (the silent seller never does), weights of 1 to 5 star reviews, share of chat messages
# answered and hours to answer, share of delivered orders with a complaint.
SHIP_HOURS = {"responsive": (3, 30), "silent": (20, 68), "strict": (8, 52)}
ACT_HOURS = {"responsive": (1, 8), "silent": (0, 0), "strict": (3, 20)}
STARS = {"responsive": (1, 0, 2, 12, 35), "silent": (8, 6, 8, 8, 6), "strict": (3, 4, 8, 12, 10)}
REPLIES = {"responsive": (1.0, (0, 2)), "silent": (0.2, (30, 60)), "strict": (0.9, (3, 20))}
COMPLAINTS = {"responsive": 0.01, "silent": 0.10, "strict": 0.04}
# Cents: (everyday, high value) ranges; high value is above the market's threshold (100 / 450).
PRICES = {"US": ((900, 9_000), (12_000, 60_000)), "MY": ((3_000, 38_000), (48_000, 240_000))}
# One bag of 38 per shop, dealt without replacement: 11 of them get a case (29%).
STORIES = (
    ("kept",) * 27
    + ("free_cancel", "late_cancel", "not_received", "return") * 2
    + ("seller_cancel", "partial_refund", "return")
)
# How each temperament plays each story, dealt from a bag of its own too.
PLAYS = {
    ("responsive", "late_cancel"): ("approve", "withdraw"),
    ("responsive", "not_received"): ("approve", "withdraw"),
    ("responsive", "partial_refund"): ("approve",),
    ("responsive", "return"): ("approve", "approve", "never_shipped", "withdraw"),
    ("silent", "late_cancel"): ("timeout", "shipped"),
    ("silent", "not_received"): ("timeout", "pod_timeout"),
    ("silent", "partial_refund"): ("timeout",),
    ("silent", "return"): ("timeout", "timeout", "never_shipped"),
    ("strict", "late_cancel"): ("reject", "reject", "approve"),
    ("strict", "not_received"): ("overturned", "pod_ruled"),
    ("strict", "partial_refund"): ("gave_up", "denied"),
    ("strict", "return"): ("overturned", "denied", "damaged_return", "gave_up"),
}
# Return reasons: the responsive shop's buyers mostly changed their minds, the others' did not.
RETURN_REASONS = {
    "responsive": "changed_mind no_longer_needed found_cheaper ordered_by_mistake defective",
    "silent": "damaged defective not_as_described wrong_item changed_mind no_longer_needed",
    "strict": "damaged defective not_as_described wrong_item counterfeit changed_mind",
}
SELLER_FAULT = frozenset({"damaged", "defective", "not_as_described", "wrong_item", "counterfeit"})
RETURN_REJECTS = "item_used description_matches_item hygiene_item_opened seal_broken other"
PARTIAL_REJECTS = "no_evidence_provided evidence_inconsistent description_matches_item"
ITEM_REJECTS = "item_damaged_by_buyer missing_parts_returned wrong_item_returned"
PARTIAL_REASONS = "damaged_in_transit damaged_in_transit missing_item"
LATE_CANCEL_REASONS = "found_cheaper wrong_address changed_mind"
ESCALATION = "The seller's answer does not match what I received; please look at my photos."
OTHER_NOTE = "Photos show the item was worn before it was sent back."
EXTENSIONS = {"photo": "jpg", "video": "mp4", "tracking": "pdf", "document": "pdf"}
RULED = {"refund": State.refunded, "return": State.awaiting_return_shipment, "deny": State.closed}
CASE_CODES = {Kind.cancellation: "CX", Kind.refund_only: "RF", Kind.return_refund: "RR"}


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

    def span(self, hours: tuple[int, int]) -> timedelta:
        """A random delay between the two numbers of hours, at least a minute."""
        return timedelta(minutes=self.rng.randrange(max(hours[0] * 60, 1), hours[1] * 60))

    def pick(self, words: str) -> str:
        return self.rng.choice(words.split())


@dataclass(frozen=True)
class _Order:
    month: _Month
    order_id: str
    number: int
    shop: Shop
    amount: Decimal
    paid: datetime


@dataclass
class _Case:
    """A case as the engine will see it: its state, and when it entered it."""

    order: _Order
    case_id: str
    kind: Kind
    amount: Decimal
    entered: datetime
    state: State = State.pending_review

    def play(self, story: str) -> str:
        """How the shop plays ``story`` this time."""
        temperament = self.order.shop.temperament
        return self.order.month.deal(f"{temperament}:{story}", PLAYS[temperament, story])

    def deadline(self) -> datetime | None:
        policy, market = self.order.month.policy, self.order.shop.market
        return policy.deadline(self.kind, self.state, market, self.amount, self.entered)

    def act(
        self, hours: tuple[int, int], action: str, actor: str, to: State, **fields: Any
    ) -> None:
        """Take ``action`` some hours after the state was entered, well before its deadline."""
        at, due = self.entered + self.order.month.span(hours), self.deadline()
        assert due is None or at <= due - MARGIN, f"{self.case_id}: {action} too late"
        line = {"case_id": self.case_id, "action": action, "actor": actor}
        self.order.month.add(at, "case.action", **line, **fields)
        self.state, self.entered = to, at

    def seller_acts(self, action: str, to: State, **fields: Any) -> None:
        self.act(ACT_HOURS[self.order.shop.temperament], action, "seller", to, **fields)

    def time_out(self, to: State) -> None:
        """Nobody acts: the state's timeout moves the case on at its deadline."""
        due = self.deadline()
        assert due is not None, f"{self.case_id}: {self.state} never times out"
        self.state, self.entered = to, due

    def evidence(self, *kinds: str) -> list[dict[str, str]]:
        return _evidence(f"{self.case_id}-{self.state}", *kinds)


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


def played_until(start: date) -> datetime:
    """The instant the demo's replay ends: every case of the month has ended by then."""
    return datetime(start.year, start.month, start.day, tzinfo=UTC) + PLAYED


def look_closer(shown_url: str, shop_id: str, case_id: str, until: datetime) -> list[str]:
    """Commands that look at what the demo wrote, as of its own end (its month is in the
    past: a report as of now finds no order in its window)."""
    db = f"--db {shown_url}"
    return [
        f"aftersale case list {db} --shop {shop_id}",
        f"aftersale case show {case_id} {db}",
        f"aftersale health {shop_id} {db} --as-of {_iso(until)}",
        f"aftersale health {shop_id} {db} --history 30",
    ]


def _order(month: _Month, shop: Shop, number: int, paid: datetime) -> None:
    """One order's life: paid, shipped, delivered, unless its story ends it sooner."""
    rng, story = month.rng, month.deal(shop.shop_id, STORIES)
    low, high = PRICES[shop.market][rng.random() < (0.35 if story == "return" else 0.08)]
    amount = Decimal(rng.randrange(low, high)) / 100
    order_id = f"{month.prefix}{shop.market}-{100200 + number}"
    order = _Order(month, order_id, number, shop, amount, paid)
    facts = {"order_id": order_id, "shop_id": shop.shop_id, "market": shop.market}
    buyer, due = f"buyer-{rng.randrange(10_000, 99_999)}", _iso(paid + 48 * H)
    money = {"currency": shop.currency, "amount": f"{amount:.2f}"}
    month.add(paid, "order.paid", **facts, buyer_id=buyer, **money, dispatch_by=due)
    _chat(order)
    if story in ("free_cancel", "seller_cancel"):
        _cancel_at_once(order, by_seller=story == "seller_cancel")
        return
    ships = paid + month.span(SHIP_HOURS[shop.temperament])
    shipped = _late_cancellation(order, ships) if story == "late_cancel" else ships
    if shipped is None:
        return
    month.add(shipped, "order.shipped", order_id=order_id, tracking=f"TRK{number:07d}")
    if story == "not_received":
        _refund_only(order, story, shipped)
        return
    delivered = shipped + month.span((48, 144))
    month.add(delivered, "order.delivered", order_id=order_id)
    _review(order, delivered)
    if story == "partial_refund":
        _refund_only(order, story, delivered)
    elif story == "return":
        _return(order, delivered)


def _open(order: _Order, at: datetime, kind: Kind, reason: str, **extra: Any) -> _Case:
    """Open a case; ``extra`` holds the actor when not the buyer and the optional fields."""
    case_id = f"{order.month.prefix}{CASE_CODES[kind]}-{100200 + order.number}"
    line = {"case_id": case_id, "order_id": order.order_id, "kind": kind.value, "actor": "buyer"}
    order.month.add(at, "case.open", **{**line, **extra}, reason=reason)
    return _Case(order, case_id, kind, Decimal(extra.get("amount", order.amount)), at)


def _cancel_at_once(order: _Order, by_seller: bool) -> None:
    """The buyer's free-hour cancellation (auto_approve) or the seller's own (seller_cancel)."""
    month = order.month
    if by_seller:
        reason = month.pick("out_of_stock out_of_stock pricing_error unable_to_ship")
        _open(order, order.paid + month.span((2, 20)), Kind.cancellation, reason, actor="seller")
        return
    at = order.paid + timedelta(minutes=month.rng.randrange(3, 56))
    _open(order, at, Kind.cancellation, month.pick("ordered_by_mistake changed_mind"))


def _late_cancellation(order: _Order, shipped: datetime) -> datetime | None:
    """A cancellation after the free hour; when the order ships after all, or None."""
    month, opened = order.month, order.paid + order.month.span((2, 8))
    case = _open(order, opened, Kind.cancellation, month.pick(LATE_CANCEL_REASONS))
    play = case.play("late_cancel")
    if play == "approve":
        case.seller_acts("approve", State.cancelled)
        return None
    if play == "timeout":
        case.time_out(State.cancelled)  # review_timeout
        return None
    if play == "shipped":
        return opened + month.span((6, 30))  # order_shipped closes the request
    if play == "withdraw":
        case.act((1, 4), "withdraw", "buyer", State.withdrawn)
    else:
        case.seller_acts("reject", State.closed, reject_reason="order_packed_awaiting_pickup")
    return max(shipped, case.entered + month.span((1, 6)))


def _refund_only(order: _Order, story: str, since: datetime) -> None:
    """A parcel never received (``since`` it shipped) or a part refund (``since`` delivered)."""
    month = order.month
    if story == "not_received":
        case = _open(order, since + month.span((144, 216)), Kind.refund_only, "not_received")
        _seller_review(case, case.play(story), "delivered_per_carrier")
        return
    share = Decimal(month.rng.choice((20, 25, 35, 50))) / 100
    amount, photo = f"{order.amount * share:.2f}", _evidence(f"{order.order_id}-open", "photo")
    reason, opened = month.pick(PARTIAL_REASONS), since + month.span((12, 72))
    case = _open(order, opened, Kind.refund_only, reason, amount=amount, evidence=photo)
    _seller_review(case, case.play(story), PARTIAL_REJECTS)


def _return(order: _Order, delivered: datetime) -> None:
    month = order.month
    latest = max(delivered + 12 * H, month.first + LAST_RETURN_OPEN)
    opened = min(delivered + month.span((24, 10 * 24)), latest)
    reason = month.pick(RETURN_REASONS[order.shop.temperament])
    extra: dict[str, Any] = {"item_unused": True} if reason == "no_longer_needed" else {}
    if reason in SELLER_FAULT:
        extra["evidence"] = _evidence(f"{order.order_id}-open", "photo", "video")
    case = _open(order, opened, Kind.return_refund, reason, **extra)
    play = case.play("return")
    _seller_review(case, play, RETURN_REJECTS)
    if case.state is not State.awaiting_return_shipment:
        return
    if play == "never_shipped":
        case.time_out(State.closed)  # ship_back_timeout
        return
    _ship_back(case, reject_item=play == "damaged_return")


def _seller_review(case: _Case, play: str, reject_codes: str) -> None:
    """A refund request while the seller reviews it: approved, rejected, proof asked..."""
    approved = State.refunded if case.kind is Kind.refund_only else State.awaiting_return_shipment
    if play == "withdraw":
        case.act((1, 24), "withdraw", "buyer", State.withdrawn, note="Sorted out, thank you.")
    elif play in ("pod_timeout", "pod_ruled"):
        _proof_of_delivery(case, play)
    elif case.order.shop.temperament == "silent":
        case.time_out(approved)  # review_timeout
    elif play in ("overturned", "denied", "gave_up"):
        code = case.order.month.pick(reject_codes)
        note = {"note": OTHER_NOTE} if code == "other" else {}
        case.seller_acts("reject", State.rejected, reject_reason=code, **note)
        if play == "gave_up":
            case.time_out(State.closed)  # escalation_timeout
        else:
            overturn = "refund" if case.kind is Kind.refund_only else "return"
            _escalate_and_rule(case, overturn if play == "overturned" else "deny")
    else:
        case.seller_acts("approve", approved)


def _proof_of_delivery(case: _Case, play: str) -> None:
    """The platform asks the seller for proof of delivery; none comes, or it is ruled on."""
    case.act((1, 12), "request_pod", "platform", State.awaiting_pod)
    if play == "pod_timeout":
        case.time_out(State.refunded)
        return
    case.seller_acts("submit_pod", State.platform_review, evidence=case.evidence("tracking"))
    outcome = case.order.month.pick("deny deny refund")
    case.act((6, 40), "rule", "platform", RULED[outcome], outcome=outcome)


def _ship_back(case: _Case, reject_item: bool) -> None:
    tracking = f"RET{case.order.month.rng.randrange(10**8, 10**9)}"
    case.act((12, 72), "ship_return", "buyer", State.return_in_transit, tracking=tracking)
    if case.order.shop.temperament == "silent":
        case.time_out(State.return_received)  # receipt_timeout
        case.time_out(State.refunded)  # refund_timeout
        return
    case.act((48, 120), "confirm_receipt", "seller", State.return_received)
    if not reject_item:
        case.seller_acts("refund", State.refunded)
        return
    code, photos = case.order.month.pick(ITEM_REJECTS), case.evidence("photo", "video")
    case.seller_acts("reject_return", State.rejected, reject_reason=code, evidence=photos)
    _escalate_and_rule(case, case.order.month.pick("refund deny"))


def _escalate_and_rule(case: _Case, outcome: str) -> None:
    """The buyer escalates a rejection with a photo and the platform rules ``outcome``."""
    photo = case.evidence("photo")
    case.act((2, 30), "escalate", "buyer", State.platform_review, note=ESCALATION, evidence=photo)
    case.act((6, 40), "rule", "platform", RULED[outcome], outcome=outcome)


def _evidence(name: str, *kinds: str) -> list[dict[str, str]]:
    """Evidence items with realistic URIs, told apart by ``name`` and a number."""
    return [
        {"kind": kind, "uri": f"https://cdn.example/evidence/{name}-{n}.{EXTENSIONS[kind]}"}
        for n, kind in enumerate(kinds, 1)
    ]


def _review(order: _Order, delivered: datetime) -> None:
    """Perhaps a review, rated as buyers rate this shop, and rarely a complaint."""
    month, temperament = order.month, order.shop.temperament
    if month.rng.random() < 0.4:
        rating = month.rng.choices(range(1, 6), weights=STARS[temperament])[0]
        topic = month.rng.choices(("product", "service", "logistics"), weights=(6, 2, 2))[0]
        at = delivered + month.span((12, 6 * 24))
        month.add(at, "review.posted", order_id=order.order_id, rating=rating, topic=topic)
    if month.rng.random() < COMPLAINTS[temperament]:
        at = delivered + month.span((24, 8 * 24))
        month.add(at, "complaint.filed", order_id=order.order_id)


def _chat(order: _Order) -> None:
    """Perhaps a buyer's question, answered as the shop's temperament answers."""
    month = order.month
    if month.rng.random() >= 0.2:
        return
    message_id = f"{month.prefix}MSG-{700200 + order.number}"
    asked = order.paid + month.span((1, 48))
    fields = {"message_id": message_id, "shop_id": order.shop.shop_id, "order_id": order.order_id}
    month.add(asked, "message.received", **fields)
    share, hours = REPLIES[order.shop.temperament]
    if month.rng.random() < share:
        month.add(asked + month.span(hours), "message.replied", message_id=message_id)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
