"""The three workflows as data: a transition table and a deadline table each."""

from __future__ import annotations

from aftersale.domain.model import Kind
from aftersale.domain.workflows.base import CaseWorkflow, Transition, Workflow, check_sound
from aftersale.domain.workflows.cancellation import CANCELLATION
from aftersale.domain.workflows.refund_only import REFUND_ONLY
from aftersale.domain.workflows.return_refund import RETURN_REFUND

WORKFLOWS: dict[Kind, CaseWorkflow] = {
    Kind.cancellation: CANCELLATION,
    Kind.refund_only: REFUND_ONLY,
    Kind.return_refund: RETURN_REFUND,
}

__all__ = ["WORKFLOWS", "CaseWorkflow", "Transition", "Workflow", "check_sound"]
