"""The words of workflows.md as types, and the two aggregates: an order's facts and a case."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


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


@dataclass(slots=True)
class Order:
    """The facts the host told the engine about one order."""

    order_id: str
    shop_id: str
    buyer_id: str
    market: str
    currency: str
    amount: Decimal
    paid_at: datetime
    dispatch_by: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    tracking: str | None = None
    refunded_total: Decimal = Decimal(0)
    open_case_id: str | None = None
    version: int = 0

    @property
    def refundable(self) -> Decimal:
        return self.amount - self.refunded_total


@dataclass(slots=True)
class Case:
    """One after-sale request on one order: the aggregate every action changes."""

    case_id: str
    order_id: str
    shop_id: str
    buyer_id: str
    market: str
    kind: Kind
    state: State
    reason: str
    responsibility: Responsibility
    amount: Decimal
    currency: str
    opened_by: Actor
    opened_at: datetime
    updated_at: datetime
    policy_version: str
    request: dict[str, Any] = field(default_factory=dict)
    deadline_at: datetime | None = None
    deadline_action: Action | None = None
    rejected_by_seller: bool = False
    return_shipped: bool = False
    version: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES
