"""The words of workflows.md as types, and the aggregates: an order's facts, a case, a message."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from aftersale.domain.events import Event


class Kind(StrEnum):
    cancellation = "cancellation"
    refund_only = "refund_only"
    return_refund = "return_refund"


class State(StrEnum):
    pending_review = "pending_review"
    awaiting_pod = "awaiting_pod"
    rejected = "rejected"
    platform_review = "platform_review"
    awaiting_return_shipment = "awaiting_return_shipment"
    return_in_transit = "return_in_transit"
    return_received = "return_received"
    awaiting_buyer_response = "awaiting_buyer_response"
    cancelled = "cancelled"
    refunded = "refunded"
    closed = "closed"
    withdrawn = "withdrawn"


TERMINAL_STATES = frozenset({State.cancelled, State.refunded, State.closed, State.withdrawn})

# States in which the case waits on the seller: leaving one by a seller action meets a seller
# deadline, leaving it by a timeout misses one (health.md).
SELLER_WAITING_STATES = frozenset(
    {State.pending_review, State.awaiting_pod, State.return_received}
)


class Action(StrEnum):
    open = "open"
    auto_approve = "auto_approve"
    seller_cancel = "seller_cancel"
    approve = "approve"
    reject = "reject"
    withdraw = "withdraw"
    order_shipped = "order_shipped"
    request_pod = "request_pod"
    submit_pod = "submit_pod"
    escalate = "escalate"
    rule = "rule"
    ship_return = "ship_return"
    confirm_receipt = "confirm_receipt"
    refund = "refund"
    reject_return = "reject_return"
    review_timeout = "review_timeout"
    pod_timeout = "pod_timeout"
    escalation_timeout = "escalation_timeout"
    ship_back_timeout = "ship_back_timeout"
    receipt_timeout = "receipt_timeout"
    refund_timeout = "refund_timeout"
    offer_partial_refund = "offer_partial_refund"
    accept_offer = "accept_offer"
    decline_offer = "decline_offer"
    offer_timeout = "offer_timeout"


class Actor(StrEnum):
    buyer = "buyer"
    seller = "seller"
    platform = "platform"
    system = "system"


class Responsibility(StrEnum):
    seller = "seller"
    buyer = "buyer"
    logistics = "logistics"
    platform = "platform"
    none = "none"


class Outcome(StrEnum):
    refund = "refund"
    return_ = "return"
    deny = "deny"


@dataclass(frozen=True, slots=True)
class Evidence:
    kind: str
    uri: str
    sha256: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "uri": self.uri}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        return out


# How an aggregate's fields are kept (aftersale.domain.declared reads them): every field is a
# column of the aggregate's table and a key of its view unless marked otherwise.
ONCE: dict[str, Any] = {"once": True}  # set when the aggregate is created, never changed
UNSHOWN: dict[str, Any] = {"shown": False}  # stored, not part of the view hosts see
ONCE_UNSHOWN: dict[str, Any] = ONCE | UNSHOWN
VERSION: dict[str, Any] = {"shown": False, "version": True}  # the compare-and-set counter
NOT_STORED: dict[str, Any] = {"stored": False, "shown": False}


@dataclass(slots=True, kw_only=True)
class Order:
    """The facts the host told the engine about one order."""

    order_id: str = field(metadata=ONCE)
    shop_id: str = field(metadata=ONCE)
    buyer_id: str = field(metadata=ONCE)
    market: str = field(metadata=ONCE)
    currency: str = field(metadata=ONCE)
    amount: Decimal = field(metadata=ONCE)
    refunded_total: Decimal = Decimal(0)
    paid_at: datetime = field(metadata=ONCE)
    dispatch_by: datetime | None = field(default=None, metadata=ONCE)
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    tracking: str | None = None
    open_case_id: str | None = None
    # what the buyer paid for forward shipping, and how much of it has been refunded
    shipping_fee: Decimal = field(default=Decimal(0), metadata=ONCE)
    shipping_refunded: Decimal = Decimal(0)
    # the order's lines and their ledger, as aftersale.domain.lines keeps them
    lines: list[dict[str, Any]] = field(default_factory=list)
    version: int = field(default=0, metadata=VERSION)
    # the events recorded since the order was loaded, written with it
    recorded: list[Event] = field(
        default_factory=list, metadata=NOT_STORED, repr=False, compare=False
    )

    @property
    def refundable(self) -> Decimal:
        return self.amount - self.refunded_total


@dataclass(slots=True, kw_only=True)
class Case:
    """One after-sale request on one order: the aggregate every action changes."""

    case_id: str = field(metadata=ONCE)
    order_id: str = field(metadata=ONCE)
    shop_id: str = field(metadata=ONCE)
    kind: Kind = field(metadata=ONCE)
    state: State
    responsibility: Responsibility
    reason: str = field(metadata=ONCE)
    amount: Decimal = field(metadata=ONCE)
    currency: str = field(metadata=ONCE)
    opened_by: Actor = field(metadata=ONCE)
    opened_at: datetime = field(metadata=ONCE)
    updated_at: datetime
    deadline_at: datetime | None = None
    deadline_action: Action | None = None
    policy_version: str = field(metadata=ONCE)
    buyer_id: str = field(metadata=ONCE_UNSHOWN)
    market: str = field(metadata=ONCE_UNSHOWN)
    request: dict[str, Any] = field(default_factory=dict, metadata=ONCE_UNSHOWN)
    rejected_by_seller: bool = field(default=False, metadata=UNSHOWN)
    return_shipped: bool = field(default=False, metadata=UNSHOWN)
    # the lines and quantities the case is about ({line_id, quantity}, in the case's order)
    lines: list[dict[str, Any]] = field(default_factory=list, metadata=ONCE)
    # its partial-refund offers ({number, amount, at, outcome}) and the refund it ended with
    offers: list[dict[str, Any]] = field(default_factory=list)
    refund: dict[str, Any] | None = None
    # at its open it covered every refundable unit of the order (it may get shipping back)
    covers_rest: bool = field(default=False, metadata=ONCE_UNSHOWN)
    # the item came back (the case passed return_received), and what sending it cost
    item_returned: bool = field(default=False, metadata=UNSHOWN)
    return_shipping_cost: Decimal | None = field(default=None, metadata=UNSHOWN)
    # while an offer is open: the state it was made from and the seconds its deadline had left
    # (exact to the microsecond), given back when the buyer declines or lets it lapse: the
    # seller's clock stops while the buyer decides
    offer_from: State | None = field(default=None, metadata=UNSHOWN)
    clock_left: Decimal | None = field(default=None, metadata=UNSHOWN)
    version: int = field(default=0, metadata=VERSION)
    recorded: list[Event] = field(
        default_factory=list, metadata=NOT_STORED, repr=False, compare=False
    )

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(slots=True, kw_only=True)
class Message:
    """A buyer's chat message to a shop, and when the shop answered it."""

    message_id: str = field(metadata=ONCE)
    shop_id: str = field(metadata=ONCE)
    order_id: str | None = field(default=None, metadata=ONCE)
    received_at: datetime = field(metadata=ONCE)
    replied_at: datetime | None = None
    version: int = field(default=0, metadata=VERSION)
    recorded: list[Event] = field(
        default_factory=list, metadata=NOT_STORED, repr=False, compare=False
    )
