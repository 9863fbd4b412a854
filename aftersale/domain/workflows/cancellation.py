"""Cancellation: the buyer (or the seller) asks to cancel an order that has not shipped."""

from aftersale.domain.model import TERMINAL_STATES, Kind
from aftersale.domain.model import Action as A
from aftersale.domain.model import State as S
from aftersale.domain.workflows.base import Transition as T
from aftersale.domain.workflows.base import Workflow, withdrawable

STATES = (S.pending_review, S.cancelled, S.closed, S.withdrawn)

CANCELLATION = Workflow(
    kind=Kind.cancellation,
    states=STATES,
    transitions=(
        T(A.auto_approve, S.pending_review, S.cancelled),
        T(A.seller_cancel, S.pending_review, S.cancelled),
        T(A.approve, S.pending_review, S.cancelled),
        T(A.reject, S.pending_review, S.closed),
        T(A.order_shipped, S.pending_review, S.closed),
        T(A.review_timeout, S.pending_review, S.cancelled),
        *withdrawable(STATES),
    ),
    timeouts={S.pending_review: A.review_timeout},
    initial=S.pending_review,
    terminal=TERMINAL_STATES,
)
