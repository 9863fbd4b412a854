"""A case against its own events: re-derived step by step from the workflow table.

Every transition must be one the table of the case's kind allows, taken by an actor who may take
it; a timeout only by the system and at the deadline the event before it recorded; anything
else only before the deadline then in force (the engine takes an overdue timeout first). The
deadline each event records must be the one the case's pinned policy gives, the responsibility
the one its reason (or a platform ruling) gives, ``overturned`` true exactly on a ruling for the
buyer after a seller's rejection; and the case row must be the fold of all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from aftersale.domain.invariants.base import Violation, when
from aftersale.domain.invariants.reading import Step
from aftersale.domain.model import TERMINAL_STATES, Action, Actor, Case, Kind, Outcome, State
from aftersale.domain.policy import Policy
from aftersale.domain.workflows import WORKFLOWS
from aftersale.domain.workflows.base import REQUESTERS, TIMEOUT_ACTIONS

RULED = {
    Outcome.refund.value: State.refunded,
    Outcome.return_.value: State.awaiting_return_shipment,
    Outcome.deny.value: State.closed,
}
OVERTURNING = frozenset({Outcome.refund.value, Outcome.return_.value})
# the ways back from an offer: the seller's deadline comes back with the time it had left
RESUMING = frozenset({Action.decline_offer, Action.offer_timeout})


def check_case(case: Case, steps: Sequence[Step], policy: Policy | None) -> list[Violation]:
    """The case row is the fold of its events, and each event a step the rules allow."""
    subject = f"case {case.case_id}"
    opening = steps[0] if steps and steps[0].action is Action.open else None
    kind = case.kind if opening is None else opening.kind  # the log is the record
    found: list[Violation] = []
    if kind is not case.kind:
        found.append(
            Violation("kind", subject, f"the case is a {case.kind} but it was opened as a {kind}")
        )
    workflow = WORKFLOWS[kind]
    if case.state not in workflow.states:
        return [*found, Violation("state", subject, f"{case.state} is not a state of {kind}")]
    walk = _Walk(case, kind, policy, subject)
    for step in steps:
        walk.take(step)
    found += walk.found
    found += _the_row(case, steps, walk, subject)
    found += _deadline(case, workflow.timeouts.get(case.state), steps, subject)
    return found


class _Walk:
    """The case replayed one event at a time, collecting what does not follow."""

    def __init__(self, case: Case, kind: Kind, policy: Policy | None, subject: str) -> None:
        self.case, self.kind, self.policy, self.subject = case, kind, policy, subject
        self.allowed = {(t.action, t.source, t.dest) for t in WORKFLOWS[kind].transitions}
        self.state: State | None = None
        self.last: Step | None = None
        self.rejected = self.shipped_back = False
        # while an offer is open: the time the seller's deadline had left when it was made
        self.paused: timedelta | None = None
        self.found: list[Violation] = []

    def _say(self, rule: str, step: Step, detail: str) -> None:
        self.found.append(
            Violation(rule, self.subject, f"event {step.seq} ({step.action}) {detail}")
        )

    def take(self, step: Step) -> None:
        if step.source != self.state:
            self.found.append(
                Violation(
                    "history",
                    self.subject,
                    f"event {step.seq} ({step.action}) leaves {step.source}, "
                    f"but the case was in {self.state}: an event is missing or misplaced",
                )
            )
        if self.state in TERMINAL_STATES:
            self.found.append(
                Violation("terminal", self.subject, f"{step.action} left {self.state}")
            )
        self._allowed(step)
        self._timing(step)
        self._recorded(step)
        if step.action in (Action.reject, Action.reject_return):
            self.rejected = True
        self.shipped_back = self.shipped_back or step.action is Action.ship_return
        if step.action is Action.offer_partial_refund:
            due = None if self.last is None else self.last.deadline_at
            self.paused = None if due is None else due - step.at
        self.state, self.last = step.target, step

    def _allowed(self, step: Step) -> None:
        """The step is in the table, taken by one who may take it, and says so."""
        if step.action is Action.open:
            openers = (
                {Actor.buyer, Actor.seller} if self.kind is Kind.cancellation else {Actor.buyer}
            )
            if step.target is not State.pending_review or step.source is not None:
                self._say("transition", step, f"opened the case into {step.target}")
            elif step.actor not in openers:
                self._say("transition", step, f"a {self.kind} may not be opened by {step.actor}")
        elif (step.action, step.source, step.target) not in self.allowed:
            self._say(
                "transition",
                step,
                f"from {step.source} to {step.target} is not a {self.kind} step",
            )
        elif step.actor not in (REQUESTERS[step.action] or {Actor.system}) or (
            step.action in TIMEOUT_ACTIONS and step.actor is not Actor.system
        ):
            self._say("transition", step, f"may not be taken by {step.actor}")
        if step.auto is not (step.actor is Actor.system):
            self._say("transition", step, f"by {step.actor} recorded auto {step.auto}")
        if step.action is Action.rule and RULED.get(step.outcome or "") is not step.target:
            self._say("transition", step, f"with outcome {step.outcome} ended in {step.target}")

    def _timing(self, step: Step) -> None:
        """Never before the event before it; a timeout at its deadline, anything else before."""
        due = None if self.last is None else self.last.deadline_at
        if self.last is not None and step.at < self.last.at:
            self._say("history", step, f"at {when(step.at)} is before the event before it")
        if step.action in TIMEOUT_ACTIONS:
            if due is None or step.at != due:
                self._say(
                    "deadline",
                    step,
                    f"at {when(step.at)} is a timeout not at its deadline ({when(due)})",
                )
        elif due is not None and step.at >= due:
            self._say(
                "deadline",
                step,
                f"by {step.actor} at {when(step.at)} came at or after the deadline "
                f"{when(due)} then in force: its timeout was due first",
            )

    def _recorded(self, step: Step) -> None:
        """The deadline, responsibility, amount, kind and overturned flag it records."""
        known, expected = self._deadline_of(step.target, step.at)
        gives = "the policy gives"
        if step.action in RESUMING:  # lines.md: the time left at the offer, counted from now
            known = self.paused is not None
            expected = None if self.paused is None else step.at + self.paused
            gives = f"the {self.paused} left when the offer was made give"
        if known and expected != step.deadline_at:
            self._say(
                "deadline",
                step,
                f"recorded deadline {when(step.deadline_at)}; {gives} {when(expected)}",
            )
        if step.action is Action.open:
            self._opening_responsibility(step)
        elif (
            self.last is not None
            and step.responsibility is not self.last.responsibility
            and step.action is not Action.rule
        ):
            self._say(
                "responsibility",
                step,
                f"changed responsibility from {self.last.responsibility} to "
                f"{step.responsibility}: only a platform ruling may",
            )
        if step.amount != self.case.amount:
            self._say("money", step, f"recorded amount {step.amount}, the case {self.case.amount}")
        if step.kind is not self.kind:
            self._say(
                "kind", step, f"recorded kind {step.kind}, the case was opened a {self.kind}"
            )
        overturned = step.action is Action.rule and step.outcome in OVERTURNING and self.rejected
        if step.overturned is not overturned:
            self._say(
                "overturned", step, f"recorded overturned {step.overturned}, not {overturned}"
            )

    def _deadline_of(self, state: State, entered_at: datetime) -> tuple[bool, datetime | None]:
        """Whether the pinned policy can say, and the deadline it gives."""
        if self.policy is None or self.case.market not in self.policy.markets:
            return False, None
        deadline = self.policy.deadline(
            self.kind, state, self.case.market, self.case.amount, entered_at
        )
        return True, deadline

    def _opening_responsibility(self, step: Step) -> None:
        if self.policy is None:
            return
        reasons = (
            self.policy.buyer_reasons
            if step.actor is Actor.buyer
            else self.policy.seller_cancellation_reasons
        )
        given = reasons.get(step.reason or "")
        if given is None:
            self._say("responsibility", step, f"reason {step.reason} is not a {step.actor} reason")
        elif given is not step.responsibility:
            self._say(
                "responsibility",
                step,
                f"recorded responsibility {step.responsibility}; "
                f"reason {step.reason} gives {given}",
            )


def _the_row(case: Case, steps: Sequence[Step], walk: _Walk, subject: str) -> list[Violation]:
    """The case row says what its events say."""
    folded = walk.state
    if folded != case.state:
        return [
            Violation(
                "history", subject, f"the case is {case.state} but its events end in {folded}"
            )
        ]
    first, last = steps[0], steps[-1]
    found: list[Violation] = []
    differences = [
        ("opened_at", when(case.opened_at), when(first.at)),
        ("opened_by", case.opened_by.value, first.actor.value),
        ("reason", case.reason, first.reason),
        ("updated_at", when(case.updated_at), when(last.at)),
        ("rejected_by_seller", case.rejected_by_seller, walk.rejected),
        ("return_shipped", case.return_shipped, walk.shipped_back),
        ("order_id", case.order_id, first.order_id),
        ("shop_id", case.shop_id, first.shop_id),
    ]
    for name, stored, logged in differences:
        if stored != logged:
            found.append(
                Violation("history", subject, f"{name} is {stored} but its events say {logged}")
            )
    for step in steps[1:]:
        if (step.order_id, step.shop_id) != (first.order_id, first.shop_id):
            found.append(
                Violation("history", subject, f"event {step.seq} names another order or shop")
            )
    if case.responsibility is not last.responsibility:
        found.append(
            Violation(
                "responsibility",
                subject,
                f"the case says {case.responsibility}, its last event {last.responsibility}",
            )
        )
    return found


def _deadline(
    case: Case, timeout: Action | None, steps: Sequence[Step], subject: str
) -> list[Violation]:
    if case.is_terminal or case.state is State.platform_review:
        if case.deadline_at is not None:
            return [Violation("deadline", subject, f"{case.state} must have no deadline")]
        return []
    if case.deadline_at is None or case.deadline_action is not timeout:
        return [
            Violation(
                "deadline",
                subject,
                f"{case.state} must wait on {timeout} with a deadline; it has "
                f"{case.deadline_action} at {when(case.deadline_at)}",
            )
        ]
    if steps and steps[-1].deadline_at != case.deadline_at:
        return [
            Violation(
                "deadline",
                subject,
                f"deadline {when(case.deadline_at)} differs from the one its last event recorded "
                f"({when(steps[-1].deadline_at)})",
            )
        ]
    return []
