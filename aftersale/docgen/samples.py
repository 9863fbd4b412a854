"""A small story played through the real engine, in memory, for the docs' examples.

Every event type is written at least once and every optional field of a transition is given,
so the examples in docs/events.md are what the engine writes, and the test can check that the
docs name every field the engine writes. The story is fixed, so the examples are too (event
ids, random in the engine, are replaced by placeholders). Its governance part (docs/
governance.md) comes after the rest, on a shop of its own, so the earlier examples keep their
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from aftersale.bootstrap import connect
from aftersale.clock import VirtualClock
from aftersale.service.engine import AfterSale

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
SHOP, MARKET, CURRENCY = "shop-lumen-audio", "US", "USD"
BAD_ORDERS = 30  # enough delivered orders for a score, each reviewed badly and complained of
REPORT_AT = 24.0 * 12 + 1  # hours after START: the report shown, after the story's last action
ALERT_CLEARED_BY = 24.0 * 75
HISTORY_DAYS = 4  # the snapshots shown: the alert is raised among them
PHOTO = [{"kind": "photo", "uri": "https://cdn.example/ev/RR-1-seal.jpg"}]
# the governance part: a second shop, ticketed by the platform once the first shop's alert is over
TICKET_SHOP, TICKET_ORDER = "shop-kestrel-home", "US-300001"
TICKETS_FROM = 24.0 * 77  # hours after START: Monday 2026-05-18
INVOICE = [{"kind": "document", "uri": "https://cdn.example/ev/TK-1-invoice.pdf"}]


@dataclass(frozen=True)
class Samples:
    events: tuple[dict[str, Any], ...]  # every event of the story, seq order
    report: dict[str, Any]  # SHOP's health report as of REPORT_AT
    history: tuple[dict[str, Any], ...]  # SHOP's daily snapshots up to REPORT_AT
    status: dict[str, Any]  # the timers' backlog at REPORT_AT
    first_relayed: dict[str, Any]  # the first event events_after hands a relay
    ticket: dict[str, Any]  # TK-1 with its history, at the story's end
    shop: dict[str, Any]  # TICKET_SHOP's governance, at the story's end


class _Story:
    def __init__(self) -> None:
        self.clock = VirtualClock(START)
        self.engine: AfterSale = connect("sqlite://", clock=self.clock, require_identity=False)
        self.history: tuple[dict[str, Any], ...] = ()
        self.status: dict[str, Any] = {}
        self.report: dict[str, Any] = {}
        self.ticket: dict[str, Any] = {}
        self.shop: dict[str, Any] = {}

    def at(self, hours: float) -> datetime:
        """``hours`` after START, with the deadlines and snapshots due by then taken first."""
        instant = START + timedelta(hours=hours)
        for midnight in self.engine.snapshot_instants(instant):
            self.clock.move_to(max(self.clock.now(), midnight))
            self.engine.fire_due(midnight)
            self.engine.take_snapshots(midnight)
        self.clock.move_to(instant)
        self.engine.fire_due(instant)
        return instant

    def order(self, order_id: str, hours: float, *, shop: str = SHOP) -> None:
        e = self.engine
        due = START + timedelta(hours=hours + 48)
        buyer = f"buyer-{order_id}"
        e.order_paid(order_id, shop, buyer, MARKET, CURRENCY, "59.90", due, at=self.at(hours))
        e.order_shipped(order_id, f"1Z{order_id}", at=self.at(hours + 24))
        e.order_delivered(order_id, at=self.at(hours + 72))


def _play() -> _Story:
    story = _Story()
    e, at = story.engine, story.at
    for n in range(BAD_ORDERS):  # a shop going wrong: its score falls below the alert line
        order_id = f"US-1{n:05d}"
        story.order(order_id, n * 0.5)
        e.review_posted(order_id, 1, "product", at=at(80 + n * 0.5))
        e.complaint_filed(order_id, at=at(81 + n * 0.5))
    e.message_received("MSG-1", SHOP, "US-100000", at=at(100))
    e.message_replied("MSG-1", at=at(103))
    e.message_received("MSG-2", SHOP, at=at(103.5))  # about no order, never answered
    _return_overturned(story)
    # a refund_only the seller lets time out, reminded before its deadline
    e.open_case("RF-1", "US-100002", "refund_only", "buyer", "not_received", at=at(131))
    at(168)
    e.remind(timedelta(hours=12))
    # the platform asks for proof of delivery, which the seller gives
    e.open_case("RF-2", "US-100003", "refund_only", "buyer", "damaged", at=at(170))
    e.act("RF-2", "request_pod", "platform", at=at(171))
    e.act("RF-2", "submit_pod", "seller", evidence=PHOTO, at=at(172))
    # cancellations: in the free hour, the seller's own, and one closed by the shipment
    for order_id, hours in (("US-200001", 230), ("US-200002", 231), ("US-200003", 233)):
        e.order_paid(order_id, SHOP, f"buyer-{order_id}", MARKET, CURRENCY, "20.00", at=at(hours))
    e.open_case("CX-1", "US-200001", "cancellation", "buyer", "changed_mind", at=at(230.5))
    e.open_case("CX-2", "US-200002", "cancellation", "seller", "out_of_stock", at=at(232))
    e.open_case("CX-3", "US-200003", "cancellation", "buyer", "found_cheaper", at=at(236))
    e.order_shipped("US-200003", "1Z-CX-3", at=at(240))
    # waiting on the seller when the status and the report are read
    e.open_case(
        "RR-2", "US-100004", "return_refund", "buyer", "changed_mind", at=at(REPORT_AT - 1)
    )
    at(REPORT_AT)
    story.history = tuple(e.health_history(SHOP, HISTORY_DAYS))
    story.status = e.status()
    story.report = e.health(SHOP)
    at(ALERT_CLEARED_BY)  # the bad orders have left every window: the alert clears
    _tickets(story)
    return story


def _return_overturned(story: _Story) -> None:
    """A return the seller rejects, the buyer escalates and the platform overturns."""
    e, at = story.engine, story.at
    e.open_case(
        "RR-1",
        "US-100001",
        "return_refund",
        "buyer",
        "no_longer_needed",
        amount="59.90",
        item_unused=True,
        evidence=PHOTO,
        note="Unopened, arrived too late.",
        actor_id="buyer-US-100001",
        at=at(104),
    )
    e.act(
        "RR-1",
        "reject",
        "seller",
        reject_reason="other",
        note="Opened: the seal is cut.",
        evidence=PHOTO,
        actor_id=SHOP,
        at=at(105),
    )
    e.act("RR-1", "escalate", "buyer", note="The carrier cut the seal.", at=at(106))
    e.act(
        "RR-1",
        "rule",
        "platform",
        outcome="return",
        responsibility="logistics",
        note="Carrier damage.",
        actor_id="operator-7",
        at=at(107),
    )
    e.act("RR-1", "ship_return", "buyer", tracking="RET-555", at=at(108))
    e.act("RR-1", "confirm_receipt", "seller", at=at(130))  # then refund_timeout


def _tickets(story: _Story) -> None:
    """The platform's tickets against a second shop: two appeals and an overturn, a ticket
    crossing a milestone and revoked (its punishment ends early), an appeal window let close."""
    e, base = story.engine, TICKETS_FROM

    def at(hours: float) -> datetime:
        return story.at(base + hours)

    story.order(TICKET_ORDER, base, shop=TICKET_SHOP)  # the shop exists from its first order
    e.issue_ticket(
        "TK-1",
        TICKET_SHOP,
        "product",
        "Listing claims a certification the product lacks.",
        6,
        order_id=TICKET_ORDER,
        note="Buyer report with photos of the label.",
        evidence=[{"kind": "photo", "uri": "https://cdn.example/ev/TK-1-label.jpg"}],
        at=at(80),
    )
    seller: dict[str, Any] = {"actor_id": TICKET_SHOP, "evidence": INVOICE}
    e.act_ticket("TK-1", "appeal", "seller", note="Certificate attached.", at=at(82), **seller)
    e.act_ticket("TK-1", "uphold", "platform", note="The certificate has expired.", at=at(100))
    # 8 more points take the shop from 6 to 14: past 12, a campaign ban starts
    e.issue_ticket(
        "TK-2", TICKET_SHOP, "fulfilment", "Dispatch proofs were forged.", 8, at=at(101)
    )
    e.act_ticket("TK-1", "appeal", "seller", note="Renewed certificate.", at=at(120), **seller)
    e.act_ticket("TK-2", "revoke", "platform", note="Issued to the wrong shop.", at=at(122))
    at(24 * 15)  # the platform's 5 business days pass: ticket.reply_overdue, round 2
    e.act_ticket("TK-1", "overturn", "platform", note="Renewal confirmed.", at=at(24 * 15 + 1))
    e.issue_ticket("TK-3", TICKET_SHOP, "service", "Rude replies to buyers.", 2, at=at(24 * 16))
    at(24 * 47)  # TK-3's 30-day appeal window closes: appeal_window_timeout, final
    story.ticket = e.ticket("TK-1")
    story.shop = e.shop(TICKET_SHOP)


@cache
def samples() -> Samples:
    """The story's events and report (played once per process)."""
    story = _play()
    events, seq = [], 0
    while page := story.engine.log(seq, 10_000):
        events.extend(page)
        seq = page[-1]["seq"]
    relayed = _placeholder(story.engine.events_after(0, 1)[0])
    return Samples(
        tuple(_placeholder(event) for event in events),
        story.report,
        story.history,
        story.status,
        relayed,
        story.ticket,
        story.shop,
    )


def _placeholder(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its random id replaced by one made of its ``seq``."""
    return {**event, "event_id": f"01950000-0000-7000-8000-{event['seq']:012d}"}


def first(events: tuple[dict[str, Any], ...], type_: str, **match: Any) -> dict[str, Any]:
    """The first event of ``type_`` whose fields include ``match``."""
    for event in events:
        if event["type"] == type_ and all(event.get(k) == v for k, v in match.items()):
            return event
    raise LookupError(f"the story has no {type_} event with {match}")
