"""What a workflow is, who may request each action, and the soundness check run at load.

A workflow is generic in its states and actions (StrEnums), so the case kinds and the ticket
(aftersale.domain.workflows.ticket) are one shape, run by one machine class and checked by one
check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from aftersale.domain.model import TERMINAL_STATES, Action, Actor, State
from aftersale.errors import WorkflowDefinitionError

A = Action
B, S, P, Y = Actor.buyer, Actor.seller, Actor.platform, Actor.system

# Who may *request* each action through the API or replay. Actions with no requesters are taken
# by the engine itself (timers, order facts, rules applied at open); asking for one is forbidden.
REQUESTERS: Mapping[Action, frozenset[Actor]] = {
    A.open: frozenset({B, S}),
    A.approve: frozenset({S}),
    A.reject: frozenset({S}),
    A.withdraw: frozenset({B}),
    A.request_pod: frozenset({P}),
    A.submit_pod: frozenset({S}),
    A.escalate: frozenset({B}),
    A.rule: frozenset({P}),
    A.ship_return: frozenset({B}),
    A.confirm_receipt: frozenset({S, Y}),
    A.refund: frozenset({S}),
    A.reject_return: frozenset({S}),
    A.offer_partial_refund: frozenset({S}),
    A.accept_offer: frozenset({B}),
    A.decline_offer: frozenset({B}),
    A.auto_approve: frozenset(),
    A.seller_cancel: frozenset(),
    A.order_shipped: frozenset(),
    A.review_timeout: frozenset(),
    A.pod_timeout: frozenset(),
    A.escalation_timeout: frozenset(),
    A.ship_back_timeout: frozenset(),
    A.receipt_timeout: frozenset(),
    A.refund_timeout: frozenset(),
    A.offer_timeout: frozenset(),
}

TIMEOUT_ACTIONS = frozenset(a for a in Action if a.value.endswith("_timeout"))
StateT = TypeVar("StateT", bound=StrEnum)
ActionT = TypeVar("ActionT", bound=StrEnum)

# A guard sees the command's fields and the case; it returns why the transition does not apply,
# or None when it does. Guards decide between destinations of one action (a platform ruling).
Guard = Callable[[Mapping[str, Any], Any], str | None]


@dataclass(frozen=True)
class Transition(Generic[StateT, ActionT]):
    action: ActionT
    source: StateT
    dest: StateT
    guard: Guard | None = None


@dataclass(frozen=True)
class Workflow(Generic[StateT, ActionT]):
    kind: str  # a case Kind, or "ticket"
    states: tuple[StateT, ...]
    transitions: tuple[Transition[StateT, ActionT], ...]
    # state -> the timeout action taken by the system when that state's deadline passes
    timeouts: Mapping[StateT, ActionT]
    initial: StateT
    terminal: frozenset[StateT]
    # waiting states with no deadline at all (a case's platform_review)
    untimed: frozenset[StateT] = frozenset()
    # waiting states whose deadline is a non-interrupting SLA: when it passes the engine
    # records one reply_overdue event and the state does not change (governance.md)
    overdue: frozenset[StateT] = frozenset()

    def actions_from(self, state: StateT) -> tuple[ActionT, ...]:
        seen: dict[ActionT, None] = {}
        for transition in self.transitions:
            if transition.source is state:
                seen[transition.action] = None
        return tuple(seen)

    def allows(self, state: StateT, action: ActionT) -> bool:
        return any(t.source is state and t.action is action for t in self.transitions)


CaseWorkflow = Workflow[State, Action]


def offers_from(*sources: State) -> tuple[Transition[State, Action], ...]:
    """Partial-refund offers (lines.md): the seller offers from ``sources``; the buyer
    accepts (refunded) or declines, or lets it lapse, back to the state it was made from."""
    waiting = State.awaiting_buyer_response
    back = tuple(
        Transition(action, waiting, source, made_from(source))
        for action in (A.decline_offer, A.offer_timeout)
        for source in sources
    )
    return (
        *(Transition(A.offer_partial_refund, source, waiting) for source in sources),
        Transition(A.accept_offer, waiting, State.refunded),
        *back,
    )


def made_from(source: State) -> Guard:
    """The guard of a way back from an offer: to the state the offer was made from."""

    def guard(fields: Mapping[str, Any], case: Any) -> str | None:
        return None if case.offer_from is source else f"the offer was not made from {source}"

    return guard


def withdrawable(states: tuple[State, ...]) -> tuple[Transition[State, Action], ...]:
    """``withdraw`` from every waiting state except platform_review (workflows.md)."""
    return tuple(
        Transition(A.withdraw, state, State.withdrawn)
        for state in states
        if state not in TERMINAL_STATES and state is not State.platform_review
    )


def check_sound(workflow: Workflow[Any, Any]) -> None:
    """Prove the tables sound, or raise: timers, reachability, terminal states."""
    problems = [*_timer_problems(workflow), *_shape_problems(workflow)]
    if problems:
        raise WorkflowDefinitionError(
            f"workflow {workflow.kind} is unsound: " + "; ".join(problems)
        )


def _timer_problems(workflow: Workflow[Any, Any]) -> list[str]:
    """Every waiting state has a timeout transition or is declared untimed or overdue-only."""
    problems: list[str] = []
    for state in workflow.states:
        if state in workflow.terminal or state in workflow.untimed or state in workflow.overdue:
            if state in workflow.timeouts:
                problems.append(f"{state} must not have a deadline")
            if state in workflow.overdue and state in workflow.terminal:
                problems.append(f"terminal state {state} must not have an SLA")
            continue
        timeout = workflow.timeouts.get(state)
        if timeout is None:
            problems.append(f"waiting state {state} has no deadline")
        elif not str(timeout).endswith("_timeout"):
            problems.append(f"{state} times out with {timeout}, which is not a timeout action")
        elif not workflow.allows(state, timeout):
            problems.append(f"{state} has no {timeout} transition")
    return problems


def _shape_problems(workflow: Workflow[Any, Any]) -> list[str]:
    """States known, the initial one not terminal, all reachable, terminal ones closed."""
    states = set(workflow.states)
    problems: list[str] = []
    if workflow.initial not in states or workflow.initial in workflow.terminal:
        problems.append(f"initial state {workflow.initial} must be a waiting state of it")
    for t in workflow.transitions:
        if t.source not in states or t.dest not in states:
            problems.append(f"{t.action} {t.source}->{t.dest} uses a state not in the workflow")
        if t.source in workflow.terminal:
            problems.append(f"terminal state {t.source} has a way out ({t.action})")
    reachable = {workflow.initial}
    frontier = [workflow.initial]
    while frontier:
        current = frontier.pop()
        for t in workflow.transitions:
            if t.source is current and t.dest not in reachable:
                reachable.add(t.dest)
                frontier.append(t.dest)
    problems.extend(
        f"{state} is unreachable" for state in workflow.states if state not in reachable
    )
    for state in workflow.states:
        if state not in workflow.terminal and not workflow.actions_from(state):
            problems.append(f"non-terminal {state} has no way out")
    return problems
