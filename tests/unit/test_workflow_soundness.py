"""The soundness check run when the machines are built: a broken table never runs a case."""

from __future__ import annotations

import dataclasses

import pytest

from aftersale.domain.machine import Machines
from aftersale.domain.model import Action, Kind, State
from aftersale.domain.workflows import WORKFLOWS, Transition, check_sound
from aftersale.errors import WorkflowDefinitionError

REFUND_ONLY = WORKFLOWS[Kind.refund_only]


@pytest.mark.parametrize("kind", list(Kind))
def test_the_shipped_workflows_are_sound(kind: Kind) -> None:
    check_sound(WORKFLOWS[kind])


def test_a_waiting_state_without_a_deadline_is_refused() -> None:
    timeouts = {s: a for s, a in REFUND_ONLY.timeouts.items() if s is not State.awaiting_pod}
    broken = dataclasses.replace(REFUND_ONLY, timeouts=timeouts)
    with pytest.raises(WorkflowDefinitionError, match="awaiting_pod has no deadline"):
        check_sound(broken)


def test_an_unreachable_state_is_refused() -> None:
    kept = tuple(t for t in REFUND_ONLY.transitions if t.action is not Action.request_pod)
    broken = dataclasses.replace(REFUND_ONLY, transitions=kept)
    with pytest.raises(WorkflowDefinitionError, match="awaiting_pod is unreachable"):
        check_sound(broken)


def test_a_terminal_state_with_a_way_out_is_refused() -> None:
    escape = Transition(Action.approve, State.closed, State.refunded)
    broken = dataclasses.replace(REFUND_ONLY, transitions=(*REFUND_ONLY.transitions, escape))
    with pytest.raises(WorkflowDefinitionError, match="terminal state closed has a way out"):
        check_sound(broken)


def test_building_the_machines_checks_every_workflow() -> None:
    escape = Transition(Action.approve, State.withdrawn, State.refunded)
    broken = dataclasses.replace(REFUND_ONLY, transitions=(*REFUND_ONLY.transitions, escape))
    with pytest.raises(WorkflowDefinitionError):
        Machines({**WORKFLOWS, Kind.refund_only: broken})
