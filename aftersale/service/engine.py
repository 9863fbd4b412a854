"""The façade a host calls: order facts, cases, timers and reads, each in one unit of work.

Every command loads what it needs through a unit of work, lets the domain decide and record its
events, and commits: the changed case, the changed order and the events in one transaction. A
refusal is an exception that leaves the block, and nothing of the command is written. Timeouts
that were due before a command are committed first, by a unit of work of their own: they stand
even when the command is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aftersale.clock import Clock, iso
from aftersale.domain import facts, orders
from aftersale.domain import lines as ledger
from aftersale.domain import validation as check
from aftersale.domain.cases import CaseRules
from aftersale.domain.health.settings import HealthSettings
from aftersale.domain.model import Action, Actor, Case, Kind, Order, State
from aftersale.domain.policy import Policy
from aftersale.domain.requests import OpenRequest, parse_open
from aftersale.errors import Conflict, InvalidInput, NotFound, OutOfOrder
from aftersale.service.governance_api import Tickets, default_governance
from aftersale.service.governance_timers import GovernanceTimers
from aftersale.service.oversight import Instant
from aftersale.service.policies import GovernanceBook, PolicyBook
from aftersale.service.ports import Storage, UnitOfWork
from aftersale.service.snapshots import SnapshotTaker
from aftersale.service.tickets import TicketDesk
from aftersale.service.timers import SweepReport, TimerSweep
from aftersale.service.views import case_view, order_view

# How far a host's ``at`` may run ahead of the engine's clock (two servers' clocks never quite
# agree); anything later is refused. Replay moves its virtual clock to each line's instant.
DEFAULT_CLOCK_SKEW = timedelta(seconds=5)
MAX_CLOCK_SKEW = timedelta(hours=1)
ZERO = timedelta(0)
# How often a command on a case runs again after losing its order's compare-and-set to a case
# on another line of the order; each loss is another writer's win, so this is only a backstop.
MAX_LOST_RACES = 32
T = TypeVar("T")


class AfterSale(Tickets):
    """The after-sale engine over one database. Build it with :func:`aftersale.connect`."""

    def __init__(
        self,
        storage: Storage,
        policies: PolicyBook,
        clock: Clock,
        rules: CaseRules | None = None,
        *,
        require_identity: bool = True,
        require_platform_identity: bool = False,
        health: tuple[HealthSettings, str] | None = None,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        governance: GovernanceBook | None = None,
    ) -> None:
        # A buyer or a seller must say who they are (buyer_id, shop_id) and may act only on
        # their own orders; replay and operator tools, which speak for them, turn it off.
        self.require_identity = require_identity
        # the platform (an operator) names itself when the host asks for it: an auditor can
        # then tell which operator ruled
        self.require_platform_identity = require_platform_identity
        if not isinstance(clock_skew, timedelta) or not ZERO <= clock_skew <= MAX_CLOCK_SKEW:
            raise InvalidInput(
                f"clock_skew must be a timedelta from 0 to 1 hour, not {clock_skew!r}"
            )
        self.clock_skew = clock_skew
        self.health_settings = health
        self.storage = storage
        self.policies = policies
        self.clock = clock
        self.rules = rules or CaseRules()
        self.governance = governance or default_governance()
        self.desk = TicketDesk(storage, policies, self.governance)
        self.snapshots = (
            None
            if health is None
            else SnapshotTaker(storage, policies.current, health, clock, self.desk)
        )
        governance_timers = GovernanceTimers(
            storage, policies, self.governance, self.desk.rules, clock
        )
        self.timers = TimerSweep(storage, policies, self.rules, clock, governance_timers)

    def close(self) -> None:
        """Let go of the database connections this engine holds (a process that is done with
        the engine, or about to fork); the engine reconnects if used again."""
        self.storage.close()

    @property
    def policy(self) -> Policy:
        """The policy in force for cases opened from now on."""
        return self.policies.current

    # -- order facts ----------------------------------------------------------------------

    def order_paid(
        self,
        order_id: str,
        shop_id: str,
        buyer_id: str,
        market: str,
        currency: str,
        amount: str,
        dispatch_by: Instant = None,
        *,
        lines: list[dict[str, Any]] | None = None,
        shipping_fee: str | None = None,
        at: Instant = None,
    ) -> dict[str, Any]:
        """Record a paid order; the same facts again are a no-op, other facts a conflict.

        ``lines`` (``[{line_id, sku, quantity, unit_price}]``) and ``shipping_fee`` must add up
        to ``amount``; without lines the order has one line, ``"1"``, of the amount less the
        shipping fee (lines.md)."""
        when = self._command_at(at)
        fields = dict(
            order_id=order_id,
            shop_id=shop_id,
            buyer_id=buyer_id,
            market=market,
            currency=currency,
            amount=amount,
            dispatch_by=dispatch_by,
            lines=lines,
            shipping_fee=shipping_fee,
        )
        fact = orders.parse_paid(self.policy, fields)
        return _repeated_after_a_race(lambda: self._record_paid(fact, when))

    def _record_paid(self, fact: orders.PaidFact, when: datetime) -> dict[str, Any]:
        with self.storage.unit_of_work() as uow:
            known = uow.orders.get(fact.order_id)
            if known is not None:
                if not fact.same_as(known):
                    raise Conflict(f"order {fact.order_id} was already paid with other facts")
                return order_view(known)
            order, _ = orders.record_paid(fact, when)
            uow.orders.add(order)
            uow.commit()
        if self.snapshots is not None:
            self.snapshots.note_shop(order.shop_id, order.market, order.paid_at)
        return order_view(order)

    def order_shipped(
        self, order_id: str, tracking: str | None = None, *, at: Instant = None
    ) -> dict[str, Any]:
        """Record shipping; a cancellation still pending is closed by ``order_shipped``."""
        when = self._command_at(at)
        return _repeated_after_a_race(lambda: self._record_shipped(order_id, tracking, when))

    def _record_shipped(
        self, order_id: str, tracking: str | None, when: datetime
    ) -> dict[str, Any]:
        while True:
            with self.storage.unit_of_work() as uow:
                order = self._order(uow, order_id)
                if order.shipped_at is None:  # a repeat stays the no-op it always was
                    self._not_before_cases(uow, order, when, "shipped")
                pending = self._open_cases(uow, order)
                if self._any_timed_out(uow, pending, order, when):
                    continue  # the timeouts stand; the shipment gets a unit of work of its own
                if orders.record_shipped(order, when, tracking) is not None:
                    for case, policy in pending:  # every cancellation still pending is closed
                        if case.kind is Kind.cancellation:
                            closing = Action.order_shipped
                            self.rules.take_system_action(case, order, policy, closing, when)
                    uow.commit()
                return order_view(order)

    def order_delivered(self, order_id: str, *, at: Instant = None) -> dict[str, Any]:
        when = self._command_at(at)
        return _repeated_after_a_race(lambda: self._record_delivered(order_id, when))

    def _record_delivered(self, order_id: str, when: datetime) -> dict[str, Any]:
        with self.storage.unit_of_work() as uow:
            order = self._order(uow, order_id)
            if orders.record_delivered(order, when) is not None:
                uow.commit()
            return order_view(order)

    # -- service facts (the health score counts them) -------------------------------------

    def review_posted(
        self, order_id: str, rating: int, topic: str | None = None, *, at: Instant = None
    ) -> None:
        when = self._command_at(at)
        with self.storage.unit_of_work() as uow:
            facts.review_posted(self._order(uow, order_id), rating, topic, when)
            uow.commit()

    def complaint_filed(self, order_id: str, *, at: Instant = None) -> None:
        when = self._command_at(at)
        with self.storage.unit_of_work() as uow:
            facts.complaint_filed(self._order(uow, order_id), when)
            uow.commit()

    def message_received(
        self, message_id: str, shop_id: str, order_id: str | None = None, *, at: Instant = None
    ) -> None:
        when = self._command_at(at)
        message_id = check.identifier(message_id, "message_id")
        shop_id = check.identifier(shop_id, "shop_id")
        _repeated_after_a_race(lambda: self._record_message(message_id, shop_id, order_id, when))

    def _record_message(
        self, message_id: str, shop_id: str, order_id: str | None, when: datetime
    ) -> None:
        with self.storage.unit_of_work() as uow:
            order = None if order_id is None else self._order(uow, order_id)
            known = uow.messages.get(message_id)
            message = facts.message_received(message_id, shop_id, order, known, when)
            if message is not None:  # a racing twin meets its key, runs again, finds this one
                uow.messages.add(message)
                uow.commit()

    def message_replied(self, message_id: str, *, at: Instant = None) -> None:
        when = self._command_at(at)
        message_id = check.identifier(message_id, "message_id")
        _repeated_after_a_race(lambda: self._record_reply(message_id, when))

    def _record_reply(self, message_id: str, when: datetime) -> None:
        with self.storage.unit_of_work() as uow:
            message = uow.messages.get(message_id)
            if message is None:
                raise NotFound(f"no message {message_id}")
            if facts.message_replied(message, when) is not None:
                uow.commit()  # of two replies racing, one updates the message's version

    # -- cases ----------------------------------------------------------------------------

    def open_case(
        self,
        case_id: str,
        order_id: str,
        kind: str,
        actor: str,
        reason: str,
        *,
        amount: str | None = None,
        item_unused: bool | None = None,
        evidence: list[dict[str, Any]] | None = None,
        note: str | None = None,
        lines: list[dict[str, Any]] | None = None,
        actor_id: str | None = None,
        at: Instant = None,
    ) -> dict[str, Any]:
        """Open a case; the same request again is a no-op, another one on its id a conflict.

        ``lines`` (``[{line_id, quantity}]``) names what the case is about; without it the case
        covers everything still refundable on the order (lines.md)."""
        when = self._command_at(at)
        request = parse_open(
            self.policy,
            dict(
                case_id=case_id,
                order_id=order_id,
                kind=kind,
                actor=actor,
                reason=reason,
                amount=amount,
                item_unused=item_unused,
                evidence=evidence,
                note=note,
                lines=lines,
                actor_id=actor_id,
            ),
        )
        self._identified(request.actor, request.actor_id)
        return _repeated_after_a_race(lambda: self._open(request, when))

    def _open(self, request: OpenRequest, when: datetime) -> dict[str, Any]:
        lost = 0
        while True:
            with self.storage.unit_of_work() as uow:
                known = uow.cases.get(request.case_id)
                if known is not None:
                    if known.request != request.fingerprint():
                        raise Conflict(
                            f"case {request.case_id} was already opened with other fields",
                            case_id=request.case_id,
                        )
                    return case_view(known)
                order = self._order(uow, request.order_id)
                if when < order.paid_at:
                    raise OutOfOrder(
                        f"case {request.case_id}: {iso(when)} is before the order was paid"
                    )
                self.rules.check_opener(order, request)
                self._not_before_cases(uow, order, when, "opened")
                try:
                    if self._any_timed_out(uow, self._open_cases(uow, order), order, when):
                        continue  # an overdue case on the order moved on first, and that stands
                except Conflict:
                    # another writer took those timeouts or wrote the order first: read again
                    lost += 1
                    if lost >= MAX_LOST_RACES:
                        raise
                    continue
                policy = self.policies.in_force(uow, when)
                case, _ = self.rules.open(order, policy, request, when)
                uow.cases.add(case)
                try:
                    uow.commit()
                except Conflict:
                    # another writer changed the order first: a case on another of its lines
                    # (lines.md), which does not refuse this one; read it again and decide
                    lost += 1
                    if lost >= MAX_LOST_RACES:
                        raise
                    continue
                return case_view(case)

    def act(
        self,
        case_id: str,
        action: str,
        actor: str,
        *,
        at: Instant = None,
        actor_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Take ``action`` on a case as ``actor``, after any timeout already due.

        A refused action writes nothing of its own, but a timeout that was due before it is
        kept: the case really had moved, and the error names the state it moved to. Returns
        the case without its history (``case()`` reads that).
        """
        given = self._not_ahead(at)
        case_id = check.identifier(case_id, "case_id")
        wanted = Action(check.choice(action, "action", frozenset(Action.__members__)))
        who = Actor(check.choice(actor, "actor", frozenset(Actor.__members__)))
        if actor_id is not None:
            actor_id = check.identifier(actor_id, "actor_id")
        self._identified(who, actor_id)
        lost = 0
        while True:
            with self.storage.unit_of_work() as uow:
                case = self._case(uow, case_id)
                seen = case.version
                # "now" is read with the case in hand, so a writer that committed while this
                # one waited for the database is never in this one's future
                when = self._clamped(given)
                if when < case.updated_at:
                    raise OutOfOrder(
                        f"case {case_id}: {iso(when)} is before its latest transition "
                        f"({iso(case.updated_at)})",
                        case_id=case_id,
                        state=case.state.value,
                        action=wanted.value,
                    )
                order = self._order(uow, case.order_id)
                self.rules.check_actor(case, order, wanted, who, actor_id)
                policy = self.policies.pinned(uow, case.policy_version)
                try:
                    if self._timed_out(uow, case, policy, order, when):
                        continue  # the timeouts stand; the action gets a unit of work of its own
                    self.rules.act(case, order, policy, wanted, who, fields, when, actor_id)
                    uow.commit()
                except Conflict:
                    # the case itself moved: this writer lost the race for it, as before lines;
                    # only its order moved (a case on another line): run the action again
                    lost += 1
                    if lost >= MAX_LOST_RACES or self._moved_since(case_id, seen):
                        raise
                    continue
                return case_view(case)

    def catch_up(self, case_id: str, *, at: Instant = None) -> dict[str, Any]:
        """Take one case's timeouts due at or before ``at`` (default now), chained ones
        included, each at its own deadline, in a transaction of its own; the case as it then
        stands (``act`` does the same first, before the action it was asked for).

        For a host that schedules each deadline itself, one job per deadline. The daemon does
        this for every due case in batches, several times cheaper (``aftersale bench``).
        Nothing due: nothing is written.
        """
        given = self._not_ahead(at)
        case_id = check.identifier(case_id, "case_id")
        lost = 0
        while True:
            with self.storage.unit_of_work() as uow:
                case = self._case(uow, case_id)
                seen = case.version
                policy = self.policies.pinned(uow, case.policy_version)
                order = self._order(uow, case.order_id)
                try:
                    self._timed_out(uow, case, policy, order, self._clamped(given))
                except Conflict:
                    # only the order moved (a case on another line): take the timeouts again
                    lost += 1
                    if lost >= MAX_LOST_RACES or self._moved_since(case_id, seen):
                        raise
                    continue
            return case_view(case)

    def fire_due(self, until: Instant = None, batch: int = 500) -> int:
        """Take every timeout due at or before ``until`` (default now); how many were taken."""
        return self.timers.sweep(self._command_at(until, "until"), batch).fired

    def sweep(
        self, batch: int = 500, should_stop: Callable[[], bool] = lambda: False
    ) -> SweepReport:
        """What the daemon runs: every timeout due now, with counts for its log line."""
        return self.timers.sweep(self.clock.now(), batch, should_stop)

    def remind(self, before: timedelta, batch: int = 500) -> int:
        """``deadline.approaching`` once per seller deadline due within ``before`` from now."""
        return self.timers.remind(self.clock.now(), before, batch)

    # -- reads ----------------------------------------------------------------------------

    def case(self, case_id: str) -> dict[str, Any]:
        """A case with its history, its deadline and the actions allowed next."""
        case = self.storage.reads.case(check.identifier(case_id, "case_id"))
        if case is None:
            raise NotFound(f"no case {case_id}", case_id=case_id)
        return case_view(case, self.storage.reads.history(case_id))

    def order(self, order_id: str) -> dict[str, Any]:
        order = self.storage.reads.order(check.identifier(order_id, "order_id"))
        if order is None:
            raise NotFound(f"no order {order_id}")
        return order_view(order)

    def cases(
        self,
        shop_id: str | None = None,
        state: str | None = None,
        kind: str | None = None,
        limit: int = 1000,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` cases in case id order, after the case id ``after`` when given: a
        page shorter than ``limit`` is the last; the next starts after its last case id."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit must be a whole number, 1 or more, not {limit!r:.40}")
        if after is not None:
            check.identifier(after, "after")
        if state is not None:
            check.choice(state, "state", frozenset(State.__members__))
        if kind is not None:
            check.choice(kind, "kind", frozenset(Kind.__members__))
        filters = {"shop_id": shop_id, "state": state, "kind": kind}
        return [case_view(case) for case in self.storage.reads.list_cases(filters, limit, after)]

    def events_after(self, cursor: str | int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """The outbox a host relays: up to ``limit`` (at most 10,000) committed events after
        ``cursor``, oldest first. Start from ``0``; pass back the ``cursor`` of the last event
        relayed. However writers race, no committed event is ever passed over or handed out
        twice (on PostgreSQL an event waits until every older transaction has ended)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit must be a whole number, 1 or more, not {limit!r:.40}")
        return self.storage.reads.events_after(cursor, min(limit, 10_000))

    def log(self, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """The event log as it stands: up to ``limit`` (at most 10,000) events visible now
        with ``seq`` above ``after``, in ``seq`` order, for an audit, a report or a replay's
        own events. Not for relaying: with concurrent writers on PostgreSQL an event with a
        lower ``seq`` can still commit after this read (``events_after`` never misses it)."""
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 2**63:
            raise InvalidInput(f"after must be a seq, 0 or more, not {after!r:.40}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit must be a whole number, 1 or more, not {limit!r:.40}")
        return self.storage.reads.log_after(after, min(limit, 10_000))

    # -- helpers --------------------------------------------------------------------------

    def _identified(self, actor: Actor, actor_id: str | None) -> None:
        if actor_id is not None:
            return
        if self.require_identity and actor in (Actor.buyer, Actor.seller):
            who = "buyer_id" if actor is Actor.buyer else "shop_id"
            raise InvalidInput(f"actor_id is required for a {actor}: give the order's {who}")
        if self.require_platform_identity and actor is Actor.platform:
            raise InvalidInput("actor_id is required for the platform: give the operator's id")

    @staticmethod
    def _not_before_cases(uow: UnitOfWork, order: Order, at: datetime, what: str) -> None:
        """A fact of the order dated before one of its cases last moved would run that case's
        history backwards (opened while another case was still open, shipped while a
        cancellation was pending)."""
        last = uow.cases.last_change(order.order_id)
        if last is not None and at < last:
            raise OutOfOrder(
                f"order {order.order_id}: {what} at {iso(at)}, before one of its cases last "
                f"moved ({iso(last)})"
            )

    def _moved_since(self, case_id: str, version: int) -> bool:
        """Whether another writer changed the case after it was read at ``version``."""
        with self.storage.unit_of_work() as uow:
            case = uow.cases.get(case_id)
            return case is None or case.version != version

    def _order(self, uow: UnitOfWork, order_id: str) -> Order:
        order = uow.orders.get(check.identifier(order_id, "order_id"))
        if order is None:
            raise NotFound(f"no order {order_id}")
        return order

    def _case(self, uow: UnitOfWork, case_id: str) -> Case:
        case = uow.cases.get(check.identifier(case_id, "case_id"))
        if case is None:
            raise NotFound(f"no case {case_id}", case_id=case_id)
        return case

    def _open_cases(self, uow: UnitOfWork, order: Order) -> list[tuple[Case, Policy]]:
        """The order's open cases (one per line at most) with their pinned policies."""
        found = []
        for case_id in ledger.open_cases(order):
            case = self._case(uow, case_id)
            found.append((case, self.policies.pinned(uow, case.policy_version)))
        return found

    def _any_timed_out(
        self,
        uow: UnitOfWork,
        pending: list[tuple[Case, Policy]],
        order: Order,
        at: datetime,
    ) -> bool:
        """Take the timeouts of the order's open cases due at or before ``at``, in deadline
        order, and commit them in this unit of work; whether there were any."""
        due = [(case, policy) for case, policy in pending if _due(case, at)]
        if not due:
            return False
        for case, policy in sorted(due, key=lambda pair: pair[0].deadline_at or at):
            self.rules.catch_up(case, order, policy, at)
        uow.commit()
        return True

    def _timed_out(
        self, uow: UnitOfWork, case: Case, policy: Policy, order: Order, at: datetime
    ) -> bool:
        """Take the timeouts of ``case`` due at or before ``at`` and commit them, in this
        unit of work, which then holds nothing else; whether there were any."""
        if not self.rules.catch_up(case, order, policy, at):
            return False
        uow.commit()
        return True


def _due(case: Case, at: datetime) -> bool:
    return case.deadline_at is not None and case.deadline_at <= at


def _repeated_after_a_race(command: Callable[[], T]) -> T:
    """Run an idempotent command (an order paid, shipped or delivered, a case opened, a
    message received) once more if it lost a race.

    A host retrying after a timeout may send the same request twice at once. Both read
    "not there yet"; on PostgreSQL the second write then meets the first's unique key or
    version, or finds the order already pointing at the case it was about to open. Run
    again, it reads what the winner committed: an identical request is the no-op it always
    is, another one under the same id the conflict it always is.
    """
    try:
        return command()
    except Conflict:
        return command()
