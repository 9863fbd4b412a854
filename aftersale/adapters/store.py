"""The SQLAlchemy store: aggregates in and out of rows, optimistic concurrency, the event log.

Every write of a case or an order is a compare-and-set on its ``version`` column: of two writers
that read the same version, exactly one updates a row and the other gets :class:`Conflict` and
rolls back everything it did. Due deadlines are claimed with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; on SQLite every write transaction starts with ``BEGIN IMMEDIATE``, so one writer
at a time holds the whole database and a plain read is already a claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from aftersale.adapters.db import READ_ONLY, translate_errors
from aftersale.adapters.rollups import Rollups
from aftersale.adapters.rows import (
    as_utc,
    by_key,
    case_from,
    case_values,
    claim_statement,
    event_dict,
    insert_statement,
    order_from,
    order_values,
    update_statement,
    versioned,
)
from aftersale.adapters.schema import cases, events, messages, orders, policies, snapshots
from aftersale.clock import iso
from aftersale.domain.events import Event
from aftersale.domain.health.items import Count
from aftersale.domain.model import Case, Order
from aftersale.errors import Conflict


class SqlTransaction:
    def __init__(self, connection: Connection, rollups: Rollups | None = None) -> None:
        self.connection = connection
        self.rollups = rollups
        self.postgres = connection.dialect.name == "postgresql"

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside undoes only what was written inside."""
        with translate_errors(), self.connection.begin_nested():
            yield

    # -- orders -----------------------------------------------------------------------------

    def order(self, order_id: str) -> Order | None:
        row = self.connection.execute(by_key(orders, "order_id"), {"k": order_id}).first()
        return None if row is None else order_from(row)

    def orders(self, order_ids: Sequence[str]) -> dict[str, Order]:
        if not order_ids:
            return {}
        rows = self.connection.execute(select(orders).where(orders.c.order_id.in_(order_ids)))
        return {row.order_id: order_from(row) for row in rows}

    def add_order(self, order: Order) -> None:
        self.connection.execute(insert_statement(orders), {**order_values(order), "version": 1})
        order.version = 1

    def save_order(self, order: Order) -> None:
        self.save_orders([order])

    def save_orders(self, changed: Sequence[Order]) -> None:
        """Compare-and-set every order on its version, in one round trip."""
        rows = [versioned(order_values(o), o.order_id, o.version) for o in changed]
        if rows and self.connection.execute(
            update_statement(orders, "order_id"), rows
        ).rowcount != len(rows):
            raise Conflict("an order was changed by another writer; try again")
        for order in changed:
            order.version += 1

    # -- cases ------------------------------------------------------------------------------

    def case(self, case_id: str) -> Case | None:
        row = self.connection.execute(by_key(cases, "case_id"), {"k": case_id}).first()
        return None if row is None else case_from(row)

    def add_case(self, case: Case) -> None:
        self.connection.execute(insert_statement(cases), {**case_values(case), "version": 1})
        case.version = 1

    def save_case(self, case: Case) -> None:
        self.save_cases([case])

    def save_cases(self, changed: Sequence[Case]) -> None:
        """Compare-and-set every case on its version, in one round trip."""
        rows = [versioned(case_values(c), c.case_id, c.version) for c in changed]
        if rows and self.connection.execute(
            update_statement(cases, "case_id"), rows
        ).rowcount != len(rows):
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

    def claim_due(self, until: datetime, limit: int) -> list[Case]:
        query = claim_statement(self.postgres)
        return [
            case_from(row) for row in self.connection.execute(query, {"until": until, "n": limit})
        ]

    def quarantine(self, case_id: str, at: datetime, error: str) -> None:
        self.connection.execute(
            update(cases)
            .where(cases.c.case_id == case_id)
            .values(quarantined_at=at, quarantine_error=error[:2000])
        )

    def claim_reminders(
        self, now: datetime, until: datetime, states: Sequence[str], limit: int
    ) -> list[Case]:
        """Cases in ``states`` whose deadline falls in (now, until] and was not yet reminded."""
        query = (
            select(cases)
            .where(
                cases.c.deadline_at > now,
                cases.c.deadline_at <= until,
                cases.c.state.in_(states),
                cases.c.quarantined_at.is_(None),
                or_(cases.c.reminded_for.is_(None), cases.c.reminded_for != cases.c.deadline_at),
            )
            .order_by(cases.c.deadline_at, cases.c.case_id)
            .limit(limit)
        )
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        return [case_from(row) for row in self.connection.execute(query)]

    def mark_reminded(self, reminded: Sequence[Case]) -> None:
        if reminded:
            self.connection.execute(
                update(cases)
                .where(cases.c.case_id == bindparam("k"))
                .values(reminded_for=bindparam("deadline")),
                [{"k": case.case_id, "deadline": case.deadline_at} for case in reminded],
            )

    # -- events, policies, messages ---------------------------------------------------------

    def append(self, new_events: Sequence[Event], recorded_at: datetime) -> list[int]:
        if new_events:
            self.connection.execute(
                insert_statement(events),
                [
                    {
                        "event_id": str(uuid.uuid4()),
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
                self.rollups.record(self.connection, new_events)
        return []

    def policy_document(self, version: str) -> dict[str, Any] | None:
        row = self.connection.execute(
            select(policies.c.document).where(policies.c.version == version)
        ).first()
        return None if row is None else dict(row.document)

    def save_policy(self, version: str, document: dict[str, Any], at: datetime) -> bool:
        """Store the policy unless it is there; True when it was already stored."""
        query = select(policies.c.version).where(policies.c.version == version)
        if self.connection.execute(query).first() is not None:
            return True
        self.connection.execute(
            insert(policies).values(version=version, document=document, created_at=at)
        )
        return False

    def add_snapshot(self, row: dict[str, Any]) -> None:
        self.connection.execute(insert(snapshots).values(**row))

    def delete_snapshots(self, shop_id: str, start: datetime, end: datetime) -> int:
        query = snapshots.delete().where(
            snapshots.c.shop_id == shop_id,
            snapshots.c.taken_at >= start,
            snapshots.c.taken_at <= end,
        )
        return int(self.connection.execute(query).rowcount)

    def last_snapshots(self, shop_id: str, limit: int, before: datetime) -> list[dict[str, Any]]:
        query = (
            select(snapshots.c.taken_at, snapshots.c.score, snapshots.c.alert_open)
            .where(snapshots.c.shop_id == shop_id, snapshots.c.taken_at < before)
            .order_by(snapshots.c.taken_at.desc())
            .limit(limit)
        )
        return [dict(row._mapping) for row in self.connection.execute(query)]

    def message(self, message_id: str) -> dict[str, Any] | None:
        row = self.connection.execute(
            select(messages).where(messages.c.message_id == message_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def save_message(self, row: dict[str, Any]) -> None:
        if self.message(row["message_id"]) is None:
            self.connection.execute(insert(messages).values(**row))
        else:
            self.connection.execute(
                update(messages)
                .where(messages.c.message_id == row["message_id"])
                .values(replied_at=row["replied_at"])
            )


class SqlStore:
    """The store over one SQLAlchemy engine."""

    def __init__(self, engine: Engine, rollups: Rollups | None = None) -> None:
        self.engine = engine
        self.rollups = rollups  # kept with every append when given

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with translate_errors(self.engine), self.engine.begin() as connection:
            yield SqlTransaction(connection, self.rollups)

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        """A transaction that only reads: on SQLite it takes no write lock."""
        with translate_errors(self.engine), self.engine.connect() as connection:
            reading = connection.execution_options(**{READ_ONLY: True})
            with reading.begin():
                yield SqlTransaction(reading)

    def history(self, case_id: str) -> list[dict[str, Any]]:
        query = select(events).where(events.c.case_id == case_id).order_by(events.c.seq)
        with translate_errors(self.engine), self.engine.connect() as connection:
            return [event_dict(row) for row in connection.execute(query)]

    def shop_markets(self) -> dict[str, tuple[str, datetime]]:
        """Each shop's market (that of its first order) and when it was first paid."""
        first = (
            select(orders.c.shop_id, func.min(orders.c.paid_at).label("first"))
            .group_by(orders.c.shop_id)
            .subquery()
        )
        query = select(orders.c.shop_id, orders.c.market, orders.c.paid_at).join(
            first, (orders.c.shop_id == first.c.shop_id) & (orders.c.paid_at == first.c.first)
        )
        with translate_errors(self.engine), self.engine.connect() as connection:
            return {row.shop_id: (row.market, row.paid_at) for row in connection.execute(query)}

    def last_seq(self) -> int:
        with translate_errors(self.engine), self.engine.connect() as connection:
            return int(connection.execute(select(func.max(events.c.seq))).scalar() or 0)

    def orders_paid_after(self, cursor: int) -> list[tuple[str, str, datetime, int]]:
        """(shop, market, paid_at, seq) of every order paid after event ``cursor``, in order."""
        query = (
            select(events.c.shop_id, events.c.at, events.c.data, events.c.seq)
            .where(events.c.seq > cursor, events.c.type == "order.paid")
            .order_by(events.c.seq)
        )
        with translate_errors(self.engine), self.engine.connect() as connection:
            return [
                (row.shop_id, row.data["market"], row.at, row.seq)
                for row in connection.execute(query)
            ]

    def snapshots(self, shop_id: str, limit: int) -> list[dict[str, Any]]:
        """The shop's latest snapshots, newest first."""
        query = (
            select(snapshots)
            .where(snapshots.c.shop_id == shop_id)
            .order_by(snapshots.c.taken_at.desc())
            .limit(limit)
        )
        with translate_errors(self.engine), self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def has_shop(self, shop_id: str) -> bool:
        query = select(events.c.seq).where(events.c.shop_id == shop_id).limit(1)
        with translate_errors(self.engine), self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    def health_counts(self, shop_id: str, as_of: datetime) -> dict[str, Count] | None:
        """The shop's health counts from the rollups; None when the event log must be folded."""
        if self.rollups is None:
            return None
        with translate_errors(self.engine), self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":  # one snapshot for all the queries
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                return self.rollups.counts(connection, shop_id, as_of)

    def adopt_rollups(self, now: datetime) -> bool:
        """Mark the empty rollups of a database with no events as current; whether the
        rollups are current afterwards (if not, ``aftersale health rebuild`` builds them)."""
        if self.rollups is None:
            return False
        try:
            with translate_errors(self.engine), self.engine.begin() as connection:
                self.rollups.adopt(connection, now)
        except Conflict:  # another process adopted them at the same moment
            pass
        with translate_errors(self.engine), self.engine.connect() as connection:
            return self.rollups.current(connection)

    def rebuild_health(self, now: datetime, on_events: Callable[[int], None]) -> int:
        """Recompute the health rollups from the event log; how many subjects they hold."""
        if self.rollups is None:
            return 0
        with translate_errors(self.engine), self.engine.begin() as connection:
            return self.rollups.rebuild(connection, now, on_events)

    def shop_events(self, shop_id: str) -> list[dict[str, Any]]:
        """Every event of one shop, oldest first (the health score's input)."""
        query = select(events).where(events.c.shop_id == shop_id).order_by(events.c.seq)
        with translate_errors(self.engine), self.engine.connect() as connection:
            return [event_dict(row) for row in connection.execute(query)]

    def events_after(self, cursor: int, limit: int) -> list[dict[str, Any]]:
        query = select(events).where(events.c.seq > cursor).order_by(events.c.seq).limit(limit)
        with translate_errors(self.engine), self.engine.connect() as connection:
            return [event_dict(row) for row in connection.execute(query)]

    def iter_events(self, batch: int = 5000) -> Iterator[dict[str, Any]]:
        cursor = 0
        while page := self.events_after(cursor, batch):
            yield from page
            cursor = page[-1]["seq"]

    def list_cases(self, filters: dict[str, Any], limit: int) -> list[Case]:
        query = select(cases).order_by(cases.c.case_id).limit(limit)
        for column, value in filters.items():
            if value is not None:
                query = query.where(cases.c[column] == value)
        with translate_errors(self.engine), self.engine.connect() as connection:
            return [case_from(row) for row in connection.execute(query)]

    def all_cases(self, page: int = 5000) -> Iterator[Case]:
        yield from (case_from(row) for row in self._pages(cases, cases.c.case_id, page))

    def all_orders(self, page: int = 5000) -> Iterator[Order]:
        yield from (order_from(row) for row in self._pages(orders, orders.c.order_id, page))

    def policy_versions(self) -> set[str]:
        with translate_errors(self.engine), self.engine.connect() as connection:
            return set(connection.execute(select(policies.c.version)).scalars())

    def _pages(self, table: Table, key: Any, page: int) -> Iterator[Row[Any]]:
        cursor = ""
        while True:
            query = select(table).where(key > cursor).order_by(key).limit(page)
            with translate_errors(self.engine), self.engine.connect() as connection:
                rows = connection.execute(query).all()
            yield from rows
            if len(rows) < page:
                return
            cursor = getattr(rows[-1], key.name)

    def next_deadline(self) -> tuple[datetime, str] | None:
        query = (
            select(cases.c.deadline_at, cases.c.case_id)
            .where(cases.c.deadline_at.is_not(None), cases.c.quarantined_at.is_(None))
            .order_by(cases.c.deadline_at, cases.c.case_id)
            .limit(1)
        )
        with translate_errors(self.engine), self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else (row.deadline_at, row.case_id)

    def backlog(self, now: datetime) -> dict[str, Any]:
        """What the timers owe: overdue deadlines, the oldest, the next, quarantined cases."""
        live = cases.c.quarantined_at.is_(None)
        with translate_errors(self.engine), self.engine.connect() as connection:
            overdue, oldest = connection.execute(
                select(func.count(), func.min(cases.c.deadline_at)).where(
                    cases.c.deadline_at <= now, live
                )
            ).one()
            upcoming = connection.execute(
                select(func.min(cases.c.deadline_at)).where(cases.c.deadline_at > now, live)
            ).scalar()
            quarantined = connection.execute(
                select(cases.c.case_id, cases.c.quarantined_at, cases.c.quarantine_error)
                .where(cases.c.quarantined_at.is_not(None))
                .order_by(cases.c.quarantined_at)
            ).all()
        return {
            "overdue": int(overdue),
            "oldest_overdue_at": oldest if oldest is None else as_utc(oldest),
            "next_deadline_at": upcoming if upcoming is None else as_utc(upcoming),
            "quarantined": [
                {"case_id": r.case_id, "at": iso(r.quarantined_at), "error": r.quarantine_error}
                for r in quarantined
            ],
        }

    def release(self, case_id: str) -> bool:
        """Put a quarantined case back in the sweep; False when it was not quarantined."""
        query = (
            update(cases)
            .where(cases.c.case_id == case_id, cases.c.quarantined_at.is_not(None))
            .values(quarantined_at=None, quarantine_error=None)
        )
        with translate_errors(self.engine), self.engine.begin() as connection:
            return connection.execute(query).rowcount == 1

    def count_events(self) -> int:
        with translate_errors(self.engine), self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(events)).scalar_one())
