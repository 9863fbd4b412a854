"""One write (or read) transaction of the store, every statement run on the driver.

Every write of a case or an order is a compare-and-set on its ``version`` column: of two writers
that read the same version, exactly one updates a row and the other gets :class:`Conflict` and
rolls back everything it did. Due deadlines are claimed with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; on SQLite every write transaction starts with ``BEGIN IMMEDIATE``, so one writer
at a time holds the whole database and a plain read is already a claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from uuid_utils import uuid7

from aftersale.adapters.outbox import APPEND
from aftersale.adapters.prepared import Link, Prepared
from aftersale.adapters.rollups import Rollups
from aftersale.adapters.rows import (
    KEYS_AT_ONCE,
    by_key,
    by_keys,
    case_from,
    case_values,
    claim_statement,
    insert_statement,
    keyed,
    order_from,
    order_values,
    update_statement,
    versioned,
)
from aftersale.adapters.schema import cases, messages, orders, policies, snapshots
from aftersale.domain.events import Event
from aftersale.domain.model import Case, Order
from aftersale.errors import Conflict

QUARANTINE = Prepared(
    update(cases)
    .where(cases.c.case_id == bindparam("k"))
    .values(quarantined_at=bindparam("at"), quarantine_error=bindparam("error"))
)
ANY_DUE = Prepared(
    select(cases.c.case_id)
    .where(cases.c.deadline_at <= bindparam("until"), cases.c.quarantined_at.is_(None))
    .limit(1)
)
LAST_CASE_CHANGE = Prepared(
    select(cases.c.updated_at)
    .where(cases.c.order_id == bindparam("k"))
    .order_by(cases.c.updated_at.desc())
    .limit(1)
)
MARK_REMINDED = Prepared(
    update(cases)
    .where(cases.c.case_id == bindparam("k"))
    .values(reminded_for=bindparam("deadline"))
)
POLICY = Prepared(select(policies.c.document).where(policies.c.version == bindparam("k")))
ADD_POLICY = insert_statement(policies, ("version", "document", "created_at"))
SNAPSHOT_COLUMNS = ("shop_id", "taken_at", "score", "tier", "alert_open", "report")
DELETE_SNAPSHOTS = Prepared(
    delete(snapshots).where(
        snapshots.c.shop_id == bindparam("shop"),
        snapshots.c.taken_at >= bindparam("start"),
        snapshots.c.taken_at <= bindparam("end"),
    )
)
LAST_SNAPSHOTS = Prepared(
    select(snapshots.c.taken_at, snapshots.c.score, snapshots.c.alert_open)
    .where(snapshots.c.shop_id == bindparam("shop"), snapshots.c.taken_at < bindparam("before"))
    .order_by(snapshots.c.taken_at.desc())
    .limit(bindparam("n"))
)
MESSAGE = by_key(messages, "message_id")
ADD_MESSAGE = insert_statement(
    messages, ("message_id", "shop_id", "order_id", "received_at", "replied_at")
)
MESSAGE_REPLIED = Prepared(  # once: of two replies racing, one updates the row
    update(messages)
    .where(messages.c.message_id == bindparam("k"), messages.c.replied_at.is_(None))
    .values(replied_at=bindparam("replied"))
)


@cache
def reminders_statement(states: tuple[str, ...], postgres: bool) -> Prepared:
    """Cases in ``states`` whose deadline falls in (now, until] and was not yet reminded."""
    query = (
        select(cases)
        .where(
            cases.c.deadline_at > bindparam("now"),
            cases.c.deadline_at <= bindparam("until"),
            or_(*(cases.c.state == state for state in states)),
            cases.c.quarantined_at.is_(None),
            or_(cases.c.reminded_for.is_(None), cases.c.reminded_for != cases.c.deadline_at),
        )
        .order_by(cases.c.deadline_at, cases.c.case_id)
        .limit(bindparam("n"))
    )
    return Prepared(query.with_for_update(skip_locked=True) if postgres else query)


class SqlTransaction:
    def __init__(self, link: Link, rollups: Rollups | None = None) -> None:
        self.link = link
        self.rollups = rollups
        self.postgres = link.dialect.name == "postgresql"

    # -- orders -----------------------------------------------------------------------------

    def order(self, order_id: str) -> Order | None:
        row = by_key(orders, "order_id").first(self.link, {"k": order_id})
        return None if row is None else order_from(row)

    def orders(self, order_ids: Sequence[str]) -> dict[str, Order]:
        found: dict[str, Order] = {}
        for start in range(0, len(order_ids), KEYS_AT_ONCE):
            count, params = keyed(order_ids[start : start + KEYS_AT_ONCE])
            for row in by_keys(orders, "order_id", count).rows(self.link, params):
                found[row.order_id] = order_from(row)
        return found

    def add_order(self, order: Order) -> None:
        values = {**order_values(order), "version": 1}
        insert_statement(orders, tuple(values)).run(self.link, values)
        order.version = 1

    def save_order(self, order: Order) -> None:
        self.save_orders([order])

    def save_orders(self, changed: Sequence[Order]) -> None:
        """Compare-and-set every order on its version, in one round trip."""
        rows = [versioned(order_values(o), o.order_id, o.version) for o in changed]
        if update_statement(orders, "order_id").run_many(self.link, rows) != len(rows):
            raise Conflict("an order was changed by another writer; try again")
        for order in changed:
            order.version += 1

    # -- cases ------------------------------------------------------------------------------

    def case(self, case_id: str) -> Case | None:
        row = by_key(cases, "case_id").first(self.link, {"k": case_id})
        return None if row is None else case_from(row)

    def add_case(self, case: Case) -> None:
        values = {**case_values(case), "version": 1}
        insert_statement(cases, tuple(values)).run(self.link, values)
        case.version = 1

    def save_case(self, case: Case) -> None:
        self.save_cases([case])

    def save_cases(self, changed: Sequence[Case]) -> None:
        """Compare-and-set every case on its version, in one round trip."""
        rows = [versioned(case_values(c), c.case_id, c.version) for c in changed]
        updated = update_statement(cases, "case_id").run_many(self.link, rows)
        if updated != len(rows):
            first = changed[0]
            raise Conflict(
                f"case {first.case_id} was changed by another writer; try again"
                if len(changed) == 1
                else "a case was changed by another writer; try again",
                case_id=first.case_id if len(changed) == 1 else None,
                state=first.state.value if len(changed) == 1 else None,
            )
        for case in changed:
            case.version += 1

    def last_case_change(self, order_id: str) -> datetime | None:
        """When a case of the order last moved (its cases' latest ``updated_at``)."""
        row = LAST_CASE_CHANGE.first(self.link, {"k": order_id})
        return None if row is None else row.updated_at

    def any_due(self, until: datetime) -> bool:
        return ANY_DUE.first(self.link, {"until": until}) is not None

    def claim_due(self, until: datetime, limit: int) -> list[Case]:
        due = claim_statement(self.postgres).rows(self.link, {"until": until, "n": limit})
        return [case_from(row) for row in due]

    def quarantine(self, case_id: str, at: datetime, error: str) -> None:
        QUARANTINE.run(self.link, {"k": case_id, "at": at, "error": error[:2000]})

    def claim_reminders(
        self, now: datetime, until: datetime, states: Sequence[str], limit: int
    ) -> list[Case]:
        """Cases in ``states`` whose deadline falls in (now, until] and was not yet reminded."""
        if not states:
            return []
        query = reminders_statement(tuple(sorted(states)), self.postgres)
        found = query.rows(self.link, {"now": now, "until": until, "n": limit})
        return [case_from(row) for row in found]

    def mark_reminded(self, reminded: Sequence[Case]) -> None:
        MARK_REMINDED.run_many(
            self.link, [{"k": case.case_id, "deadline": case.deadline_at} for case in reminded]
        )

    # -- events, policies, messages ---------------------------------------------------------

    def append(self, new_events: Sequence[Event], recorded_at: datetime) -> list[int]:
        # Event ids are time-ordered (UUID version 7, RFC 9562): each goes in at the end of the
        # unique index, not on a random page of it. A sweep wrote 14 % fewer pages a deadline.
        if new_events:
            APPEND[self.link.dialect.name].run_many(
                self.link,
                [
                    {
                        "event_id": str(uuid7()),
                        "type": e.type,
                        "at": e.at,
                        "recorded_at": recorded_at,
                        "case_id": e.case_id,
                        "order_id": e.order_id,
                        "shop_id": e.shop_id,
                        "data": e.data or {},
                    }
                    for e in new_events
                ],
            )
            if self.rollups is not None:
                self.rollups.record(self.link, new_events)
        return []

    def policy_document(self, version: str) -> dict[str, Any] | None:
        row = POLICY.first(self.link, {"k": version})
        return None if row is None else dict(row.document)

    def save_policy(self, version: str, document: dict[str, Any], at: datetime) -> bool:
        """Store the policy unless it is there; True when it was already stored."""
        if POLICY.first(self.link, {"k": version}) is not None:
            return True
        ADD_POLICY.run(self.link, {"version": version, "document": document, "created_at": at})
        return False

    def add_snapshot(self, row: dict[str, Any]) -> None:
        insert_statement(snapshots, SNAPSHOT_COLUMNS).run(self.link, row)

    def delete_snapshots(self, shop_id: str, start: datetime, end: datetime) -> int:
        return DELETE_SNAPSHOTS.run(self.link, {"shop": shop_id, "start": start, "end": end})

    def last_snapshots(self, shop_id: str, limit: int, before: datetime) -> list[dict[str, Any]]:
        found = LAST_SNAPSHOTS.rows(self.link, {"shop": shop_id, "before": before, "n": limit})
        return [row._asdict() for row in found]

    def message(self, message_id: str) -> dict[str, Any] | None:
        row = MESSAGE.first(self.link, {"k": message_id})
        return None if row is None else dict(row._asdict())

    def add_message(self, row: dict[str, Any]) -> None:
        """Insert: a racing twin meets the primary key (and runs again, finding this one)."""
        ADD_MESSAGE.run(self.link, row)

    def message_replied(self, message_id: str, at: datetime) -> None:
        if MESSAGE_REPLIED.run(self.link, {"k": message_id, "replied": at}) != 1:
            raise Conflict(f"message {message_id} was answered by another writer; try again")
