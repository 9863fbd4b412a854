"""Return and refund: the buyer sends the item back and is refunded when it arrives."""

from aftersale.domain.model import TERMINAL_STATES, Kind
from aftersale.domain.model import Action as A
from aftersale.domain.model import State as S
from aftersale.domain.workflows.base import Transition as T
from aftersale.domain.workflows.base import Workflow, offers_from, withdrawable
from aftersale.domain.workflows.rulings import deny, refund, send_back

STATES = (
    S.pending_review,
    S.rejected,
    S.platform_review,
    S.awaiting_return_shipment,
    S.return_in_transit,
    S.return_received,
    S.awaiting_buyer_response,
    S.refunded,
    S.closed,
    S.withdrawn,
)

RETURN_REFUND = Workflow(
    kind=Kind.return_refund,
    states=STATES,
    transitions=(
        T(A.approve, S.pending_review, S.awaiting_return_shipment),
        T(A.reject, S.pending_review, S.rejected),
        T(A.review_timeout, S.pending_review, S.awaiting_return_shipment),
        T(A.ship_return, S.awaiting_return_shipment, S.return_in_transit),
        T(A.ship_back_timeout, S.awaiting_return_shipment, S.closed),
        T(A.confirm_receipt, S.return_in_transit, S.return_received),
        T(A.receipt_timeout, S.return_in_transit, S.return_received),
        T(A.refund, S.return_received, S.refunded),
        T(A.reject_return, S.return_received, S.rejected),
        T(A.refund_timeout, S.return_received, S.refunded),
        T(A.escalate, S.rejected, S.platform_review),
        T(A.escalation_timeout, S.rejected, S.closed),
        T(A.rule, S.platform_review, S.refunded, refund),
        T(A.rule, S.platform_review, S.awaiting_return_shipment, send_back),
        T(A.rule, S.platform_review, S.closed, deny),
        *offers_from(S.pending_review, S.return_received),
        *withdrawable(STATES),
    ),
    timeouts={
        S.pending_review: A.review_timeout,
        S.awaiting_return_shipment: A.ship_back_timeout,
        S.return_in_transit: A.receipt_timeout,
        S.return_received: A.refund_timeout,
        S.rejected: A.escalation_timeout,
        S.awaiting_buyer_response: A.offer_timeout,
    },
    initial=S.pending_review,
    terminal=TERMINAL_STATES,
    untimed=frozenset({S.platform_review}),
)
