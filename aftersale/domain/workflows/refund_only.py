"""Refund only: the buyer keeps (or never got) the item and asks for money back."""

from aftersale.domain.model import TERMINAL_STATES, Kind
from aftersale.domain.model import Action as A
from aftersale.domain.model import State as S
from aftersale.domain.workflows.base import Transition as T
from aftersale.domain.workflows.base import Workflow, offers_from, withdrawable
from aftersale.domain.workflows.rulings import deny, refund

STATES = (
    S.pending_review,
    S.awaiting_pod,
    S.rejected,
    S.platform_review,
    S.awaiting_buyer_response,
    S.refunded,
    S.closed,
    S.withdrawn,
)

REFUND_ONLY = Workflow(
    kind=Kind.refund_only,
    states=STATES,
    transitions=(
        T(A.approve, S.pending_review, S.refunded),
        T(A.reject, S.pending_review, S.rejected),
        T(A.request_pod, S.pending_review, S.awaiting_pod),
        T(A.review_timeout, S.pending_review, S.refunded),
        T(A.submit_pod, S.awaiting_pod, S.platform_review),
        T(A.pod_timeout, S.awaiting_pod, S.refunded),
        T(A.escalate, S.rejected, S.platform_review),
        T(A.escalation_timeout, S.rejected, S.closed),
        T(A.rule, S.platform_review, S.refunded, refund),
        T(A.rule, S.platform_review, S.closed, deny),
        *offers_from(S.pending_review),
        *withdrawable(STATES),
    ),
    timeouts={
        S.pending_review: A.review_timeout,
        S.awaiting_pod: A.pod_timeout,
        S.rejected: A.escalation_timeout,
        S.awaiting_buyer_response: A.offer_timeout,
    },
    initial=S.pending_review,
    terminal=TERMINAL_STATES,
    untimed=frozenset({S.platform_review}),
)
