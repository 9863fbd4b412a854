"""The rules of a case: open it, act on it, time it out. Pure functions of their arguments.

Each function changes the case and order it is given, records the events of the change on the
case and returns them; the service's unit of work writes all of it in one transaction, or
nothing when an error is raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aftersale.clock import iso
from aftersale.domain import lines as ledger
from aftersale.domain.events import CASE_TRANSITION, Event
from aftersale.domain.machine import Machines
from aftersale.domain.model import (
    TERMINAL_STATES,
    Action,
    Actor,
    Case,
    Kind,
    Order,
    Outcome,
    Responsibility,
    State,
)
from aftersale.domain.policy import Policy
from aftersale.domain.requests import OpenRequest, parse_action_fields, requested_amount
from aftersale.domain.workflows import WORKFLOWS
from aftersale.domain.workflows.base import REQUESTERS
from aftersale.errors import Conflict, Forbidden, InvalidInput, NotAllowed, NotEligible

MICROSECOND = timedelta(microseconds=1)
MONEY_BACK = frozenset({State.refunded, State.cancelled})
# how each way out of awaiting_buyer_response ends the open offer (lines.md)
OFFER_OUTCOMES = {
    Action.accept_offer: "accepted",
    Action.decline_offer: "declined",
    Action.offer_timeout: "lapsed",
    Action.withdraw: "withdrawn",
}


class CaseRules:
    """Open, act and time out, using one shared machine per workflow."""

    def __init__(self, machines: Machines | None = None) -> None:
        self.machines = machines or Machines(WORKFLOWS)

    # -- open -------------------------------------------------------------------------------

    def open(
        self, order: Order, policy: Policy, request: OpenRequest, at: datetime
    ) -> tuple[Case, list[Event]]:
        """Open a case on ``order`` and apply the rules that act at once."""
        self.check_opener(order, request)
        reasons = (
            policy.buyer_reasons
            if request.actor is Actor.buyer
            else policy.seller_cancellation_reasons
        )
        if request.reason not in reasons:
            raise InvalidInput(
                f"reason {request.reason} is not a {request.actor} reason for opening a case",
                case_id=request.case_id,
            )
        _check_eligible(order, policy, request, at)
        coverage = ledger.cover(order, request.extras.get("lines"), request.case_id)
        market = policy.market(order.market)
        amount = requested_amount(request, market.currency_decimals) or coverage.item_value
        if amount > coverage.item_value:
            raise Conflict(
                f"amount {amount} is above what is still refundable on order "
                f"{order.order_id} for the lines this case covers "
                f"({coverage.item_value} {order.currency})",
                case_id=request.case_id,
            )
        if "evidence" in request.extras:
            from aftersale.domain import validation

            validation.evidence(request.extras["evidence"], market.evidence_kinds, required=False)
        case = Case(
            case_id=request.case_id,
            order_id=order.order_id,
            shop_id=order.shop_id,
            buyer_id=order.buyer_id,
            market=order.market,
            kind=request.kind,
            state=State.pending_review,
            reason=request.reason,
            responsibility=reasons[request.reason],
            amount=amount,
            currency=order.currency,
            opened_by=request.actor,
            opened_at=at,
            updated_at=at,
            policy_version=policy.version,
            request=request.fingerprint(),
            lines=coverage.lines,
            covers_rest=coverage.covers_rest,
        )
        ledger.hold(order, case)
        case.deadline_at = policy.deadline(case.kind, case.state, case.market, amount, at)
        case.deadline_action = WORKFLOWS[case.kind].timeouts.get(case.state)
        extra = {"reason": case.reason, "actor_id": request.actor_id, "lines": case.lines}
        for key in ("note", "evidence", "item_unused"):
            if key in request.extras:
                extra[key] = request.extras[key]
        events = [self._event(case, policy, Action.open, None, request.actor, at, extra)]
        immediate = self._immediate_action(case, order, policy, at)
        if immediate is not None:
            events.append(self._move(case, order, policy, immediate, Actor.system, at, {}))
        return case, events

    @staticmethod
    def check_opener(order: Order, request: OpenRequest) -> None:
        """Forbidden unless this actor may open this kind of case on this order: checked
        before anything is written, overdue timeouts included."""
        _check_identity(order, request.actor, request.actor_id, f"case {request.case_id}")
        if request.actor not in REQUESTERS[Action.open] or (
            request.actor is Actor.seller and request.kind is not Kind.cancellation
        ):
            raise Forbidden(
                f"a {request.actor} may not open a {request.kind} case", case_id=request.case_id
            )

    def _immediate_action(
        self, case: Case, order: Order, policy: Policy, at: datetime
    ) -> Action | None:
        if case.kind is not Kind.cancellation:
            return None
        if case.opened_by is Actor.seller:
            return Action.seller_cancel
        if at - order.paid_at <= policy.free_cancel_window and order.shipped_at is None:
            return Action.auto_approve
        return None

    # -- act --------------------------------------------------------------------------------

    def act(
        self,
        case: Case,
        order: Order,
        policy: Policy,
        action: Action,
        actor: Actor,
        fields: Mapping[str, Any],
        at: datetime,
        actor_id: str | None = None,
    ) -> Event:
        """Take a requested action: forbidden, not_allowed, then the fields, in that order."""
        self.check_actor(case, order, action, actor, actor_id)
        workflow = WORKFLOWS[case.kind]
        if not workflow.allows(case.state, action):
            self.machines[case.kind].fire(case, action, fields)  # raises NotAllowed
        if action is Action.offer_partial_refund and len(case.offers) >= policy.max_offers:
            raise NotAllowed(
                case.case_id,
                case.state.value,
                action.value,
                f"at most {policy.max_offers} offers per case, and {len(case.offers)} were made",
            )
        checked = parse_action_fields(policy, policy.market(case.market), action, fields)
        if action is Action.offer_partial_refund and checked["amount"] >= case.amount:
            raise InvalidInput(
                f"case {case.case_id}: an offer must be below the amount asked "
                f"({checked['amount']} is not below {case.amount} {case.currency})",
                case_id=case.case_id,
            )
        if actor_id is not None:
            checked["actor_id"] = actor_id
        return self._move(case, order, policy, action, actor, at, checked)

    @staticmethod
    def check_actor(
        case: Case, order: Order, action: Action, actor: Actor, actor_id: str | None
    ) -> None:
        """Forbidden unless ``actor`` may take ``action`` and is who the order says: it does
        not depend on the state, so it is checked before anything is written."""
        if actor not in REQUESTERS[action]:
            who = ", ".join(sorted(REQUESTERS[action])) or "the engine only"
            raise Forbidden(
                f"case {case.case_id}: {action} may be taken by {who}, not {actor}",
                case_id=case.case_id,
                state=case.state.value,
                action=action.value,
            )
        _check_identity(order, actor, actor_id, f"case {case.case_id}")

    def take_system_action(
        self, case: Case, order: Order, policy: Policy, action: Action, at: datetime
    ) -> Event:
        """An action the engine takes itself on an order fact (``order_shipped``)."""
        return self._move(case, order, policy, action, Actor.system, at, {})

    def time_out(self, case: Case, order: Order, policy: Policy) -> Event:
        """Take the case's timeout action, effective at its deadline."""
        assert case.deadline_at is not None and case.deadline_action is not None
        at = case.deadline_at
        return self._move(case, order, policy, case.deadline_action, Actor.system, at, {})

    def catch_up(self, case: Case, order: Order, policy: Policy, at: datetime) -> list[Event]:
        """Take every timeout due at or before ``at``, each at its own deadline."""
        events = []
        while case.deadline_at is not None and case.deadline_at <= at:
            events.append(self.time_out(case, order, policy))
        return events

    # -- the one place a case moves -----------------------------------------------------------

    def _move(
        self,
        case: Case,
        order: Order,
        policy: Policy,
        action: Action,
        actor: Actor,
        at: datetime,
        fields: dict[str, Any],
    ) -> Event:
        source, prior_deadline = case.state, case.deadline_at
        offered = case.offers[-1] if case.offers and case.offers[-1]["outcome"] == "open" else None
        target = self.machines[case.kind].fire(case, action, fields)
        overturned = (
            action is Action.rule
            and fields.get("outcome") in (Outcome.refund, Outcome.return_)
            and case.rejected_by_seller
        )
        if action in (Action.reject, Action.reject_return):
            case.rejected_by_seller = True
        if action is Action.ship_return:
            case.return_shipped = True
            fields = dict(fields)
            if "shipping_cost" in fields:
                case.return_shipping_cost = fields["shipping_cost"]
                fields["shipping_cost"] = str(fields["shipping_cost"])
        if target is State.return_received:
            case.item_returned = True
        if "responsibility" in fields:
            case.responsibility = Responsibility(fields["responsibility"])
        case.updated_at = at
        case.deadline_at = policy.deadline(case.kind, target, case.market, case.amount, at)
        offer = None
        if action is Action.offer_partial_refund:
            assert prior_deadline is not None  # offers are made from timed seller states
            fields, offer = self._offer(case, source, prior_deadline - at, fields, at)
        elif offered is not None:
            offer = self._offer_ended(case, offered, action, at)
        case.deadline_action = WORKFLOWS[case.kind].timeouts.get(target)
        if offer is not None:
            fields = {**fields, "offer": offer}
        if target in TERMINAL_STATES:
            ledger.release(order, case)
            if target in MONEY_BACK:
                decimals = policy.market(case.market).currency_decimals
                case.refund = ledger.settle(case, order, action, decimals)
                fields = {**fields, "refund": case.refund}
            if target is State.cancelled:
                cancelled = ledger.all_cancelled(order)
                if cancelled:
                    order.cancelled_at = at
                fields = {**fields, "order_cancelled": cancelled}
        return self._event(
            case, policy, action, source, actor, at, {**fields, "overturned": overturned}
        )

    @staticmethod
    def _offer(
        case: Case, source: State, left: timedelta, fields: dict[str, Any], at: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new offer, and the fields of its event without its amount: the seller's clock
        stops with the time its deadline had ``left``."""
        fields = dict(fields)
        offer = {"amount": str(fields.pop("amount")), "number": len(case.offers) + 1}
        case.offer_from = source
        case.clock_left = Decimal(left // MICROSECOND).scaleb(-6)
        case.offers = [*case.offers, {**offer, "at": iso(at), "outcome": "open"}]
        return fields, offer

    @staticmethod
    def _offer_ended(
        case: Case, offered: dict[str, Any], action: Action, at: datetime
    ) -> dict[str, Any]:
        """The open offer ended by ``action``; back where it was made from, the seller's
        deadline is the time that was left, counted from now."""
        outcome = OFFER_OUTCOMES[action]
        ended = {**offered, "outcome": outcome}
        case.offers = [*case.offers[:-1], ended]
        if action in (Action.decline_offer, Action.offer_timeout):
            assert case.clock_left is not None
            case.deadline_at = at + int(case.clock_left.scaleb(6)) * MICROSECOND
        case.offer_from = None
        case.clock_left = None
        return {"amount": ended["amount"], "number": ended["number"]}

    def _event(
        self,
        case: Case,
        policy: Policy,
        action: Action,
        source: State | None,
        actor: Actor,
        at: datetime,
        fields: Mapping[str, Any],
    ) -> Event:
        data: dict[str, Any] = {
            "kind": case.kind.value,
            "action": action.value,
            "from_state": None if source is None else source.value,
            "to_state": case.state.value,
            "actor": actor.value,
            "auto": actor is Actor.system,
            "responsibility": case.responsibility.value,
            "reason": case.reason,
            "amount": str(case.amount),
            "currency": case.currency,
            "overturned": False,
            "deadline_at": iso(case.deadline_at),
            "policy_version": case.policy_version,
        }
        data.update(fields)
        event = Event(CASE_TRANSITION, at, case.order_id, case.shop_id, case.case_id, data)
        case.recorded.append(event)
        return event


def _check_identity(order: Order, actor: Actor, actor_id: str | None, what: str) -> None:
    if actor_id is None:
        return
    expected = {Actor.buyer: order.buyer_id, Actor.seller: order.shop_id}.get(actor)
    if expected is not None and actor_id != expected:
        raise Forbidden(f"{what}: {actor} {actor_id} is not this order's {actor}")


def _check_eligible(order: Order, policy: Policy, request: OpenRequest, at: datetime) -> None:
    order_id = order.order_id
    if order.cancelled_at is not None:
        raise NotEligible(f"order {order_id} was cancelled", case_id=request.case_id)
    if request.kind is Kind.cancellation and order.shipped_at is not None:
        raise NotEligible(f"order {order_id} has shipped: it can no longer be cancelled")
    if request.kind is Kind.refund_only and (order.shipped_at is None or at < order.shipped_at):
        raise NotEligible(
            f"order {order_id} had not shipped at {iso(at)}: ask for a cancellation instead"
        )
    if request.kind is Kind.return_refund:
        if order.delivered_at is None or at < order.delivered_at:
            raise NotEligible(
                f"order {order_id} was not delivered at {iso(at)}: nothing to return"
            )
        window = policy.market(order.market).return_window
        if at - order.delivered_at > window:
            raise NotEligible(
                f"order {order_id} was delivered more than {window.days} days ago: "
                "the return window is closed"
            )
        if request.reason in policy.reasons_needing_unused_item and (
            request.extras.get("item_unused") is not True
        ):
            raise NotEligible(f"reason {request.reason} needs item_unused: true")
