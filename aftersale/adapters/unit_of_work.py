"""The unit of work on SQLAlchemy: one database transaction, written in one place, its commit.

Repositories read through the transaction and keep what they hand out (one object per key);
writes are staged. :meth:`SqlUnitOfWork.commit` is the one place every write is listed, in
order: policies, new aggregates, the compare-and-set of every changed one on its ``version``
(of two writers that read the same version exactly one updates a row; the other gets
:class:`Conflict` and nothing of its unit is written), the staged case marks and snapshots, the
events in the order they were recorded, the health projection of those events, and COMMIT.
Leaving the block without ``commit()`` rolls everything back.

Due deadlines are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite every unit
of work begins with ``BEGIN IMMEDIATE``, so one writer at a time holds the whole database and a
plain read is already a claim.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from datetime import datetime
from itertools import chain
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, Table
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from uuid_utils import uuid7

from aftersale.adapters import set_based
from aftersale.adapters.db import BEGIN_WRITE, translate_errors
from aftersale.adapters.governance_rows import (
    SqlPunishments,
    SqlShops,
    SqlTickets,
    quarantine_statement,
)
from aftersale.adapters.mapping import CASES, MAPPED, MESSAGES, ORDERS, Mapped
from aftersale.adapters.outbox import APPEND
from aftersale.adapters.prepared import Link, Prepared
from aftersale.adapters.rollups import Rollups
from aftersale.adapters.rows import KEYS_AT_ONCE, by_key, by_keys, claim_statement, keyed
from aftersale.adapters.statements import (
    ADD_POLICY,
    ADD_SNAPSHOT,
    DELETE_SNAPSHOTS,
    LAST_CASE_CHANGE,
    LAST_SNAPSHOTS,
    MARK_REMINDED,
    POLICY,
    POLICY_VERSIONS,
    QUARANTINE,
    QUARANTINED,
    RELEASE,
    reminders_statement,
)
from aftersale.domain.declared import state_of
from aftersale.domain.events import Event
from aftersale.domain.model import Case, Message, Order
from aftersale.domain.tickets.model import Punishment, Shop, Ticket
from aftersale.errors import Conflict

Aggregate = Order | Case | Message | Ticket | Punishment | Shop
log = logging.getLogger("aftersale.timers")


class SqlUnitOfWork:
    """One transaction of the store (see the module's docstring)."""

    def __init__(
        self, engine: Engine, rollups: Rollups | None, now: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._rollups = rollups
        self._now = now
        self._sqlite = engine.dialect.name == "sqlite"
        # what was handed out, by (aggregate type, key): the object and its state when loaded
        self._seen: dict[tuple[type, str], tuple[Any, tuple[Any, ...]]] = {}
        self._added: dict[tuple[type, str], Any] = {}
        self._recorded: list[Event] = []  # events no aggregate records
        self._staged: dict[str, list[dict[str, Any]]] = {
            "policies": [],
            "quarantines": [],
            "reminders": [],
            "releases": [],
            "deleted_snapshots": [],
            "snapshots": [],
        }
        self._marks: list[tuple[Prepared, dict[str, Any]]] = []  # tickets', punishments'
        self.set_aside = 0  # claimed rows that could not be read, quarantined (claimed())

        self._committed = False
        self.orders = _Orders(self)
        self.cases = _Cases(self)
        self.messages = _Messages(self)
        self.policies = _Policies(self)
        self.snapshots = _Snapshots(self)
        self.tickets = SqlTickets(self)
        self.punishments = SqlPunishments(self)
        self.shops = SqlShops(self)
        self.events = self

    # -- the transaction ------------------------------------------------------------------

    def __enter__(self) -> Self:
        with translate_errors(self._engine):
            self._pooled = self._engine.raw_connection()
            self.link = Link(
                self._pooled.dbapi_connection, self._engine.dialect, self._pooled.invalidate
            )
            if self._sqlite:  # the engine's own BEGIN for SQLite (see db.py)
                BEGIN_WRITE.run(self.link)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and self._pooled.dbapi_connection is not None:
                with suppress(Exception):  # None once invalidated: nothing to roll back
                    self._pooled.rollback()
        finally:
            self._pooled.close()
        if isinstance(error, SQLAlchemyError):  # as every database error: StorageError, Conflict
            with translate_errors(self._engine):
                raise error

    def commit(self) -> None:
        """Write everything this unit of work holds, then COMMIT (the module's docstring).

        On PostgreSQL the statements go in pipeline mode: sent without waiting for each
        answer, so a command's commit is two round trips (the rollups' subjects must be read
        before they are written) instead of one per statement. The compare-and-set then checks
        itself in the database (set_based.py): a stale version aborts the transaction, and
        the COMMIT behind it rolls back.
        """
        if self._committed:
            raise RuntimeError("this unit of work was committed already")
        changed = [
            aggregate for aggregate, loaded in self._seen.values() if state_of(aggregate) != loaded
        ]
        added = list(self._added.values())
        try:
            with self._pipelined():
                self._write(added, changed)
                with self.link.errors("COMMIT"):
                    self._pooled.commit()
        except DBAPIError as error:
            if set_based.stale(error):
                raise _conflict(changed) from None
            raise
        self._committed = True
        for aggregate in changed:
            aggregate.version += 1
        for aggregate in chain(added, (seen for seen, _ in self._seen.values())):
            aggregate.recorded.clear()

    def _write(self, added: Sequence[Any], changed: Sequence[Any]) -> None:
        """Every write, in the one order of the module's docstring."""
        link = self.link
        ADD_POLICY[link.dialect.name].run_many(link, self._staged["policies"])
        for mapped in MAPPED.values():
            new = [aggregate for aggregate in added if type(aggregate) is mapped.aggregate]
            for aggregate in new:
                aggregate.version = 1
            mapped.insert.run_many(link, [mapped.values(aggregate) for aggregate in new])
        for mapped in MAPPED.values():
            _compare_and_set(link, mapped, [a for a in changed if type(a) is mapped.aggregate])
        QUARANTINE.run_many(link, self._staged["quarantines"])
        MARK_REMINDED.run_many(link, self._staged["reminders"])
        RELEASE.run_many(link, self._staged["releases"])
        DELETE_SNAPSHOTS.run_many(link, self._staged["deleted_snapshots"])
        ADD_SNAPSHOT.run_many(link, self._staged["snapshots"])
        for statement, row in self._marks:
            statement.run(link, row)
        events = self._events(added)
        self._append(events)
        if self._rollups is not None:  # the health projection, in the same transaction
            self._rollups.project(link, events)

    def _pipelined(self) -> AbstractContextManager[Any]:
        return nullcontext() if self._sqlite else self.link.driver.pipeline()

    def forget(self, aggregate: Aggregate) -> None:
        key = (type(aggregate), MAPPED[type(aggregate)].key_of(aggregate))
        self._seen.pop(key, None)
        self._added.pop(key, None)

    def record(self, event: Event) -> None:
        self._recorded.append(event)

    # -- for the repositories -------------------------------------------------------------

    def get(self, mapped: Mapped[Any], key: str) -> Any:
        """The aggregate of ``key``: the one handed out already, else read; None if none."""
        known = self.seen(mapped, key)
        if known is not None:
            return known
        row = by_key(mapped.table, mapped.key).first(self.link, {"k": key})
        return None if row is None else self.track(mapped, row)

    def seen(self, mapped: Mapped[Any], key: str) -> Any:
        known = self._seen.get((mapped.aggregate, key)) or self._added.get((mapped.aggregate, key))
        return known[0] if isinstance(known, tuple) else known

    def track(self, mapped: Mapped[Any], row: Any) -> Any:
        """The aggregate of ``row``, or the one this unit of work already handed out."""
        aggregate = mapped.load(row)
        key = (mapped.aggregate, mapped.key_of(aggregate))
        known = self._seen.get(key)
        if known is not None:
            return known[0]
        self._seen[key] = (aggregate, state_of(aggregate))
        return aggregate

    def claimed(self, mapped: Mapped[Any], rows: Sequence[Any]) -> list[Any]:
        """The aggregates of claimed rows. A row that cannot be read (damaged data) is set
        aside, quarantined by its key with the commit, instead of raised: one bad row must not
        stop every sweep after it (no poison pill)."""
        found = []
        for row in rows:
            try:
                found.append(self.track(mapped, row))
            except Exception as error:
                key = getattr(row, mapped.key)
                log.error("%s %s cannot be read, quarantined: %r", mapped.table.name, key, error)
                why = f"unreadable row: {type(error).__name__}: {error}"
                self.stage_mark(mapped.table, mapped.key, key, self._now(), why[:2000])
                self.set_aside += 1
        return found

    def add(self, mapped: Mapped[Any], aggregate: Any) -> None:
        self._added[(mapped.aggregate, mapped.key_of(aggregate))] = aggregate

    def stage(self, what: str, row: dict[str, Any]) -> None:
        self._staged[what].append(row)

    def staged(self, what: str) -> list[dict[str, Any]]:
        return self._staged[what]

    def stage_mark(
        self, table: Table, key: str, value: str, at: datetime | None, error: str | None
    ) -> None:
        """A quarantine (or, with None, a release) of a row, written with the commit."""
        row = {"k": value, "at": at, "error": error}
        self._marks.append((quarantine_statement(table, key), row))

    def added_of(self, kind: type) -> list[Any]:
        return [aggregate for aggregate in self._added.values() if type(aggregate) is kind]

    @property
    def sqlite(self) -> bool:
        return self._sqlite

    # -- events -----------------------------------------------------------------------------

    def _events(self, added: Sequence[Any]) -> list[Event]:
        """Every event recorded in this unit of work, in the order it was recorded."""
        recorded = list(self._recorded)
        for aggregate in chain((seen for seen, _ in self._seen.values()), added):
            recorded.extend(aggregate.recorded)
        recorded.sort(key=_serial)
        return recorded

    def _append(self, events: Sequence[Event]) -> None:
        # Event ids are time-ordered (UUID version 7, RFC 9562): each goes in at the end of the
        # unique index, not on a random page of it. A sweep wrote 14 % fewer pages a deadline.
        if not events:
            return
        recorded_at = self._now()
        append = set_based.append_all if not self._sqlite else APPEND["sqlite"].run_many
        append(
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
                for e in events
            ],
        )


def _serial(event: Event) -> int:
    return event.serial


def _compare_and_set(link: Link, mapped: Mapped[Any], changed: Sequence[Any]) -> None:
    """Update every changed aggregate where its version is still the one read, at once; on
    PostgreSQL the statement fails itself when a row missed (set_based.update_all)."""
    if not changed:
        return
    rows = [mapped.changes(aggregate, aggregate.version) for aggregate in changed]
    if link.dialect.name == "postgresql":
        set_based.update_all(link, mapped, rows)
    elif mapped.update.run_many(link, rows) != len(rows):
        raise _conflict(changed)


def _conflict(changed: Sequence[Any]) -> Conflict:
    """Another writer changed one of ``changed`` after it was read."""
    cases = [aggregate for aggregate in changed if isinstance(aggregate, Case)]
    first = cases[0] if len(cases) == 1 else changed[0] if changed else None
    if len(cases) == 1 and isinstance(first, Case):  # the case a command moved, with its order
        return Conflict(
            f"case {first.case_id} was changed by another writer; try again",
            case_id=first.case_id,
            state=first.state.value,
        )
    noun = "case" if first is None else type(first).__name__.lower()
    article = "an" if noun[0] in "aeiou" else "a"
    return Conflict(f"{article} {noun} was changed by another writer; try again")


# -- the repositories ---------------------------------------------------------------------------


class _Orders:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def get(self, order_id: str) -> Order | None:
        return self._uow.get(ORDERS, order_id)  # type: ignore[no-any-return]

    def get_many(self, order_ids: Sequence[str]) -> dict[str, Order]:
        found: dict[str, Order] = {}
        for start in range(0, len(order_ids), KEYS_AT_ONCE):
            count, params = keyed(order_ids[start : start + KEYS_AT_ONCE])
            for row in by_keys(ORDERS.table, "order_id", count).rows(self._uow.link, params):
                found[row.order_id] = self._uow.track(ORDERS, row)
        return found

    def add(self, order: Order) -> None:
        self._uow.add(ORDERS, order)


class _Cases:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def get(self, case_id: str) -> Case | None:
        return self._uow.get(CASES, case_id)  # type: ignore[no-any-return]

    def add(self, case: Case) -> None:
        self._uow.add(CASES, case)

    def last_change(self, order_id: str) -> datetime | None:
        row = LAST_CASE_CHANGE.first(self._uow.link, {"k": order_id})
        return None if row is None else row.updated_at

    def claim_due(self, until: datetime, limit: int) -> list[Case]:
        rows = claim_statement(not self._uow._sqlite).rows(
            self._uow.link, {"until": until, "n": limit}
        )
        return self._uow.claimed(CASES, rows)

    def claim_reminders(
        self, now: datetime, until: datetime, states: Collection[str], limit: int
    ) -> list[Case]:
        if not states:
            return []
        query = reminders_statement(tuple(sorted(states)), not self._uow._sqlite)
        rows = query.rows(self._uow.link, {"now": now, "until": until, "n": limit})
        return [self._uow.track(CASES, row) for row in rows]

    def reminded(self, case: Case) -> None:
        self._uow.stage("reminders", {"k": case.case_id, "deadline": case.deadline_at})

    def quarantine(self, case: Case, at: datetime, error: str) -> None:
        self._uow.forget(case)
        self._uow.stage("quarantines", {"k": case.case_id, "at": at, "error": error[:2000]})

    def quarantined(self, case_id: str) -> bool:
        return QUARANTINED.first(self._uow.link, {"k": case_id}) is not None

    def release(self, case_id: str) -> None:
        self._uow.stage("releases", {"k": case_id})


class _Messages:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def get(self, message_id: str) -> Message | None:
        return self._uow.get(MESSAGES, message_id)  # type: ignore[no-any-return]

    def add(self, message: Message) -> None:
        self._uow.add(MESSAGES, message)


class _Policies:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def get(self, version: str) -> dict[str, Any] | None:
        for row in self._uow.staged("policies"):
            if row["version"] == version:
                return dict(row["document"])
        row = POLICY.first(self._uow.link, {"k": version})
        return None if row is None else dict(row.document)

    def add(self, version: str, document: dict[str, Any], at: datetime) -> None:
        self._uow.stage("policies", {"version": version, "document": document, "created_at": at})

    def versions(self) -> set[str]:
        stored = {row.version for row in POLICY_VERSIONS.rows(self._uow.link, {})}
        return stored | {row["version"] for row in self._uow.staged("policies")}


class _Snapshots:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def add(self, row: dict[str, Any]) -> None:
        self._uow.stage("snapshots", row)

    def before(self, shop_id: str, limit: int, before: datetime) -> list[dict[str, Any]]:
        found = LAST_SNAPSHOTS.rows(
            self._uow.link, {"shop": shop_id, "before": before, "n": limit}
        )
        return [row._asdict() for row in found]

    def delete(self, shop_id: str, start: datetime, end: datetime) -> None:
        self._uow.stage("deleted_snapshots", {"shop": shop_id, "start": start, "end": end})
