"""Rows as the database holds them, read defensively: each one a typed value or a violation.

The store hands ``verify`` its rows unconverted (JSON as text, instants as the driver returns
them), because a damaged row must be reported, not raised: a state that is no state, an instant
that does not parse, event data that is not JSON or lacks a key, an amount that is no number.
Each such row becomes one ``unreadable`` violation naming it, and the subjects it concerns (its
case, its order, its message) are marked skipped, so that no other check reports the same damage
again under another name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersale.domain import events as ev
from aftersale.domain.invariants import entries
from aftersale.domain.invariants.base import Violation
from aftersale.domain.invariants.ticket_rows import (
    GOVERNANCE_EVENTS,
    GovernanceRows,
    governance_concerns,
)
from aftersale.domain.invariants.values import (
    Unreadable,
    amount,
    choice,
    document,
    flag,
    instant,
    maybe_instant,
    maybe_text,
    stored,
    text,
    whole,
)
from aftersale.domain.model import Action, Actor, Case, Kind, Order, Responsibility, State

Raw = Mapping[str, Any]

ORDER_FACTS = frozenset({ev.ORDER_PAID, ev.ORDER_SHIPPED, ev.ORDER_DELIVERED})
SERVICE_FACTS = frozenset(
    {ev.REVIEW_POSTED, ev.COMPLAINT_FILED, ev.MESSAGE_RECEIVED, ev.MESSAGE_REPLIED}
)
# what a transition event must record: what the health score and these checks read
STEP_KEYS = (
    "kind",
    "action",
    "from_state",
    "to_state",
    "actor",
    "auto",
    "responsibility",
    "amount",
    "deadline_at",
    "overturned",
)


@dataclass(frozen=True, slots=True)
class Step:
    """One ``case.transition`` event, read."""

    seq: int
    at: datetime
    case_id: str
    order_id: str | None
    shop_id: str | None
    kind: Kind
    action: Action
    source: State | None
    target: State
    actor: Actor
    auto: bool
    responsibility: Responsibility
    reason: str | None
    amount: Decimal
    deadline_at: datetime | None
    overturned: bool
    outcome: str | None
    # lines.md: what an open covers (None: recorded before orders had lines), the offer made
    # or ended, the refund recorded, whether a cancellation cancelled the order (None: not
    # said, as before lines), what the buyer paid to send the item back
    lines: list[tuple[str, int]] | None = None
    offer: tuple[int, Decimal] | None = None
    refund: entries.Refund | None = None
    order_cancelled: bool | None = None
    shipping_cost: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """Any other event, with the fields of its type that the checks read, typed."""

    seq: int
    type: str
    at: datetime
    order_id: str | None
    shop_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    shop_id: str
    order_id: str | None
    received_at: datetime
    replied_at: datetime | None


@dataclass
class Snapshot:
    """Every row ``verify`` reads, typed, and the rows that could not be read."""

    orders: dict[str, Order] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    steps: dict[str, list[Step]] = field(default_factory=dict)  # by case id, in seq order
    facts: dict[str, list[Fact]] = field(default_factory=dict)  # order and service facts
    messages: dict[str, Message] = field(default_factory=dict)
    message_facts: dict[str, list[Fact]] = field(default_factory=dict)  # by message id
    policy_documents: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    governance: GovernanceRows = field(default_factory=GovernanceRows)  # shops, tickets...
    unreadable: list[Violation] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)  # subjects no other check looks at

    def add(self, table: str, row: Raw) -> None:
        """Read one row of ``table``; an unreadable one is reported, never raised."""
        read, subject, concerns = READERS[table]
        try:
            read(self, row)
        except (Unreadable, KeyError, TypeError) as error:
            name = subject(row)
            self.unreadable.append(Violation("unreadable", name, _why(table, row, error)))
            self.skipped.update({name, *concerns(row)})


def _why(table: str, row: Raw, error: Exception) -> str:
    why = f"data lacks {error.args[0]!r}" if isinstance(error, KeyError) else str(error)
    if table != "events":
        return why
    if row.get("type") in GOVERNANCE_EVENTS:
        concerning = ", ".join(sorted(governance_concerns(row)))
        return f"{row.get('type')} event ({concerning or 'no ticket or shop'}): {why}"
    about = [
        f"{name} {row.get(key)}" for name, key in (("case", "case_id"), ("order", "order_id"))
    ]
    concerning = ", ".join(part for part in about if not part.endswith(" None"))
    return f"{row.get('type')} event ({concerning or 'no case or order'}): {why}"


# -- rows --------------------------------------------------------------------------------------


def _order(snapshot: Snapshot, row: Raw) -> None:
    order = stored(Order, row)
    entries.order_lines(order.lines)  # the checks read them again, knowing they can
    snapshot.orders[order.order_id] = order


def _case(snapshot: Snapshot, row: Raw) -> None:
    case = stored(Case, row)
    entries.case_lines(case.lines)
    entries.offers(case.offers)
    entries.refund(case.refund)
    snapshot.cases[case.case_id] = case


def _event(snapshot: Snapshot, row: Raw) -> None:
    seq, kind = whole(row["seq"], "seq"), text(row["type"], "type")
    at = instant(row["at"], "at")
    instant(row["recorded_at"], "recorded_at")
    order_id = maybe_text(row["order_id"], "order_id")
    shop_id = maybe_text(row["shop_id"], "shop_id")
    data = document(row["data"], "data")
    if kind in GOVERNANCE_EVENTS:
        snapshot.governance.event(seq, kind, at, order_id, shop_id, data)
        return
    if kind == ev.CASE_TRANSITION:
        step = _step(seq, at, text(row["case_id"], "case_id"), order_id, shop_id, data)
        snapshot.steps.setdefault(step.case_id, []).append(step)
        return
    fact = Fact(seq, kind, at, order_id, shop_id, _details(kind, order_id, data))
    if kind in ORDER_FACTS or (kind in SERVICE_FACTS and order_id is not None):
        snapshot.facts.setdefault(order_id or "", []).append(fact)
    if kind in (ev.MESSAGE_RECEIVED, ev.MESSAGE_REPLIED):
        snapshot.message_facts.setdefault(fact.details["message_id"], []).append(fact)


def _step(
    seq: int, at: datetime, case_id: str, order_id: str | None, shop_id: str | None, data: Raw
) -> Step:
    missing = [key for key in STEP_KEYS if key not in data]
    if missing:
        raise Unreadable(f"data lacks {', '.join(missing)}")
    source = data["from_state"]
    return Step(
        seq=seq,
        at=at,
        case_id=case_id,
        order_id=order_id,
        shop_id=shop_id,
        kind=choice(Kind, data["kind"], "kind"),
        action=choice(Action, data["action"], "action"),
        source=None if source is None else choice(State, source, "from_state"),
        target=choice(State, data["to_state"], "to_state"),
        actor=choice(Actor, data["actor"], "actor"),
        auto=flag(data["auto"], "auto", stored=False),
        responsibility=choice(Responsibility, data["responsibility"], "responsibility"),
        reason=maybe_text(data.get("reason"), "reason"),
        amount=amount(data["amount"], "amount"),
        deadline_at=maybe_instant(data["deadline_at"], "deadline_at"),
        overturned=flag(data["overturned"], "overturned", stored=False),
        outcome=maybe_text(data.get("outcome"), "outcome"),
        **_ledger_keys(data),
    )


def _ledger_keys(data: Raw) -> dict[str, Any]:
    """The keys lines.md added to a transition event, each read when it is there."""
    found: dict[str, Any] = {}
    if data.get("action") == "open" and "lines" in data:
        found["lines"] = entries.case_lines(data["lines"])
    if "offer" in data:
        found["offer"] = entries.event_offer(data["offer"])
    if data.get("refund") is not None:
        found["refund"] = entries.refund(data["refund"])
    if "order_cancelled" in data:
        found["order_cancelled"] = flag(data["order_cancelled"], "order_cancelled", stored=False)
    if data.get("shipping_cost") is not None:
        found["shipping_cost"] = amount(data["shipping_cost"], "shipping_cost")
    return found


def _details(kind: str, order_id: str | None, data: Raw) -> dict[str, Any]:
    """The fields of a fact the checks (and the health score) read, typed."""
    if (kind in ORDER_FACTS or kind in (ev.REVIEW_POSTED, ev.COMPLAINT_FILED)) and not order_id:
        raise Unreadable(f"a {kind} event must name its order")
    if kind == ev.ORDER_PAID:
        return {
            "buyer_id": text(data["buyer_id"], "buyer_id"),
            "market": text(data["market"], "market"),
            "currency": text(data["currency"], "currency"),
            "amount": amount(data["amount"], "amount"),
            "dispatch_by": maybe_instant(data.get("dispatch_by"), "dispatch_by"),
            # recorded before orders had lines: no shipping fee, one implicit line (None)
            "shipping_fee": amount(data.get("shipping_fee", "0"), "shipping_fee"),
            "lines": None if data.get("lines") is None else entries.given_lines(data["lines"]),
        }
    if kind == ev.ORDER_SHIPPED:
        return {"tracking": maybe_text(data.get("tracking"), "tracking")}
    if kind == ev.REVIEW_POSTED:
        rating = whole(data["rating"], "rating")
        if not 1 <= rating <= 5:
            raise Unreadable(f"rating {rating} is not from 1 to 5")
        return {"rating": rating, "topic": text(data["topic"], "topic")}
    if kind == ev.MESSAGE_RECEIVED:
        return {"message_id": text(data["message_id"], "message_id")}
    if kind == ev.MESSAGE_REPLIED:
        return {
            "message_id": text(data["message_id"], "message_id"),
            "received_at": instant(data["received_at"], "received_at"),
        }
    return {}


def _message(snapshot: Snapshot, row: Raw) -> None:
    message = Message(
        message_id=text(row["message_id"], "message_id"),
        shop_id=text(row["shop_id"], "shop_id"),
        order_id=maybe_text(row["order_id"], "order_id"),
        received_at=instant(row["received_at"], "received_at"),
        replied_at=maybe_instant(row["replied_at"], "replied_at"),
    )
    snapshot.messages[message.message_id] = message


def _policy(snapshot: Snapshot, row: Raw) -> None:
    version = text(row["version"], "version")
    snapshot.policy_documents[version] = None  # stored, if not readable
    snapshot.policy_documents[version] = document(row["document"], "document")


# -- what an unreadable row is called, and which subjects it leaves unchecked ------------------


def _named(prefix: str, key: str) -> Callable[[Raw], str]:
    return lambda row: f"{prefix} {row.get(key)}"


def _concerned(row: Raw) -> set[str]:
    """The case, order and message a damaged row is about, as far as they can be told (a
    ticket's or punishment's event: that ticket or punishment)."""
    if row.get("type") in GOVERNANCE_EVENTS:
        return governance_concerns(row)
    subjects = {
        f"{prefix} {row[key]}"
        for prefix, key in (("case", "case_id"), ("order", "order_id"))
        if isinstance(row.get(key), str)
    }
    try:
        message_id = document(row.get("data"), "data").get("message_id")
    except Unreadable:
        message_id = None
    if isinstance(message_id, str):
        subjects.add(f"message {message_id}")
    return subjects


Reader = tuple[Callable[[Snapshot, Raw], None], Callable[[Raw], str], Callable[[Raw], set[str]]]
READERS: dict[str, Reader] = {
    "orders": (_order, _named("order", "order_id"), _concerned),
    "cases": (_case, _named("case", "case_id"), _concerned),
    "events": (_event, _named("event", "seq"), _concerned),
    "messages": (_message, _named("message", "message_id"), _concerned),
    "policies": (_policy, _named("policy", "version"), lambda row: set()),
    "shops": (
        lambda snapshot, row: snapshot.governance.shop(row),
        _named("shop", "shop_id"),
        lambda row: set(),
    ),
    "tickets": (
        lambda snapshot, row: snapshot.governance.ticket(row),
        _named("ticket", "ticket_id"),
        lambda row: set(),
    ),
    "punishments": (
        lambda snapshot, row: snapshot.governance.punishment(row),
        _named("punishment", "punishment_id"),
        lambda row: set(),
    ),
}
