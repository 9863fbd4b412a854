"""A unit of work in memory: everything staged, then checked whole, then applied whole.

Its commit, under the database's lock, first works out every write and checks it (each new
aggregate's key is free, each changed one's version is the one it read, each snapshot's day is
free) and only then applies them all; a :class:`Conflict` applies none, as a rolled-back SQL
transaction writes none. Events are numbered 1, 2, … in commit order, one writer at a time as
on SQLite, so the outbox cursor of event ``n`` is ``"0.n"``. Cases claimed by the unit of work
are held until it ends, as ``FOR UPDATE SKIP LOCKED`` holds them on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from types import TracebackType
from typing import Any, Self

from uuid_utils import uuid7

from aftersale.adapters.memory.governance import MemoryPunishments, MemoryShops, MemoryTickets
from aftersale.adapters.memory.repositories import (
    MemoryCases,
    MemoryOrders,
    MemoryPolicies,
    MemoryRepository,
    MemorySnapshots,
)
from aftersale.adapters.memory.tables import A, Aggregate, Database, Row, Table, encoded, utc
from aftersale.clock import iso
from aftersale.domain.declared import state_of
from aftersale.domain.events import Event
from aftersale.domain.model import Case
from aftersale.errors import Conflict
from aftersale.service.ports import (
    Cases,
    EventLog,
    Messages,
    Orders,
    PolicyDocuments,
    Punishments,
    Shops,
    Snapshots,
    Tickets,
)


@dataclass
class Staged:
    """What a unit of work writes besides its aggregates, in the order it was asked for."""

    recorded: list[Event] = field(default_factory=list)  # events no aggregate records
    policies: list[Row] = field(default_factory=list)
    quarantines: list[tuple[str, Row]] = field(default_factory=list)  # (case id, columns)
    reminders: list[tuple[str, Row]] = field(default_factory=list)
    releases: list[tuple[str, Row]] = field(default_factory=list)
    deleted_snapshots: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    snapshots: list[Row] = field(default_factory=list)
    marks: list[tuple[Table[Any], str, Row]] = field(default_factory=list)  # quarantines


class MemoryUnitOfWork:
    """One transaction over the memory tables (see the module's docstring)."""

    def __init__(self, db: Database, now: Callable[[], datetime]) -> None:
        self._db = db
        self._now = now
        # what was handed out, by (aggregate type, key): the object and its state when loaded
        self._seen: dict[tuple[type, str], tuple[Aggregate, tuple[Any, ...]]] = {}
        self._added: dict[tuple[type, str], Aggregate] = {}
        self._staged = staged = Staged()
        self._committed = False
        self.set_aside = 0  # claimed rows that could not be read, quarantined (claimed())
        self.orders: Orders = MemoryOrders(self, db.orders)
        self.cases: Cases = MemoryCases(self, db, staged)
        self.messages: Messages = MemoryRepository(self, db.messages)
        self.policies: PolicyDocuments = MemoryPolicies(db, staged)
        self.snapshots: Snapshots = MemorySnapshots(db, staged)
        self.tickets: Tickets = MemoryTickets(self, db, staged)
        self.punishments: Punishments = MemoryPunishments(self, db, staged)
        self.shops: Shops = MemoryShops(self, db)
        self.events: EventLog = self

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._db.let_go(self)  # anything not committed is simply never applied

    def commit(self) -> None:
        """Check every write, then apply them all; :class:`Conflict` applies none."""
        if self._committed:
            raise RuntimeError("this unit of work was committed already")
        self._committed = True
        db = self._db
        added = list(self._added.values())
        changed = [
            aggregate for aggregate, loaded in self._seen.values() if state_of(aggregate) != loaded
        ]
        with db.lock:
            rows = self._inserts(added)
            self._compare_and_set(rows, changed)
            self._mark(rows[Case])
            self._mark_others(rows)
            policies = self._new_policies()
            deleted, snapshots = self._snapshot_writes()
            events = self._event_rows()
            # nothing below raises: the unit is applied whole
            for kind, written in rows.items():
                db.tables[kind].rows.update(written)
            for case in (a for a in added if isinstance(a, Case)):
                db.cases_of_order.setdefault(case.order_id, []).append(case.case_id)
            db.policies.update(policies)
            for shop_id, taken_at in deleted:
                del db.snapshots[shop_id][taken_at]
            for (shop_id, taken_at), row in snapshots.items():
                db.snapshots.setdefault(shop_id, {})[taken_at] = row
            db.append(events)
        db.let_go(self)
        for aggregate in added:
            aggregate.version = 1
        for aggregate in changed:
            aggregate.version += 1
        for aggregate in chain(added, (seen for seen, _ in self._seen.values())):
            aggregate.recorded.clear()

    def forget(self, aggregate: Aggregate) -> None:
        key = (type(aggregate), self._db.tables[type(aggregate)].key_of(aggregate))
        self._seen.pop(key, None)
        self._added.pop(key, None)

    def record(self, event: Event) -> None:
        self._staged.recorded.append(event)

    # -- for the repositories: one object per row and unit of work, as a SQL session keeps ---

    def known(self, table: Table[A], key: str) -> A | None:
        seen = self._seen.get((table.aggregate, key))
        found = seen[0] if seen is not None else self._added.get((table.aggregate, key))
        return found if isinstance(found, table.aggregate) else None

    def track(self, table: Table[A], row: Row) -> A:
        """The aggregate of ``row``, or the one this unit of work already handed out."""
        key = row[table.key]
        known = self.known(table, key)
        if known is not None:
            return known
        aggregate = table.load(row)
        self._seen[(table.aggregate, key)] = (aggregate, state_of(aggregate))
        return aggregate

    def claimed(self, table: Table[Any], rows: Sequence[Row]) -> list[Any]:
        """The aggregates of claimed rows; a row that cannot be read is quarantined by its
        key with the commit, as the SQL unit of work does (no poison pill)."""
        found = []
        for row in rows:
            try:
                found.append(self.track(table, row))
            except Exception as error:
                why = f"unreadable row: {type(error).__name__}: {error}"[:2000]
                marks = {"quarantined_at": utc(self._now()), "quarantine_error": why}
                if table is self._db.cases:
                    self._staged.quarantines.append((row[table.key], marks))
                else:
                    self._staged.marks.append((table, row[table.key], marks))
                self.set_aside += 1
        return found

    def add(self, table: Table[A], aggregate: A) -> None:
        self._added[(table.aggregate, table.key_of(aggregate))] = aggregate

    # -- the commit's parts, each checking before anything is applied ---------------------

    def _inserts(self, added: Sequence[Aggregate]) -> dict[type, dict[str, Row]]:
        rows: dict[type, dict[str, Row]] = {kind: {} for kind in self._db.tables}
        for aggregate in added:
            table = self._db.tables[type(aggregate)]
            key = table.key_of(aggregate)
            if key in table.rows:
                raise Conflict(
                    f"the database refused a duplicate: {table.noun} {key} is stored already"
                )
            rows[table.aggregate][key] = table.inserted(aggregate)
        return rows

    def _compare_and_set(
        self, rows: dict[type, dict[str, Row]], changed: Sequence[Aggregate]
    ) -> None:
        for kind, table in self._db.tables.items():
            mine = [aggregate for aggregate in changed if type(aggregate) is kind]
            for aggregate in mine:
                stored = table.rows.get(table.key_of(aggregate))
                if stored is None or stored["version"] != aggregate.version:
                    raise _stale(table, mine)
                rows[kind][table.key_of(aggregate)] = table.updated(stored, aggregate)

    def _mark(self, written: dict[str, Row]) -> None:
        """Quarantines, reminders, releases, in that order, on the cases there after the
        inserts and updates (a case that is not there is left alone, as an UPDATE leaves it)."""
        staged = self._staged
        for case_id, values in chain(staged.quarantines, staged.reminders, staged.releases):
            row = written.get(case_id) or self._db.cases.rows.get(case_id)
            if row is not None:
                written[case_id] = {**row, **values}

    def _mark_others(self, rows: dict[type, dict[str, Row]]) -> None:
        """Quarantines of tickets and punishments, on the rows there after the writes."""
        for table, key, values in self._staged.marks:
            row = rows[table.aggregate].get(key) or table.rows.get(key)
            if row is not None:
                rows[table.aggregate][key] = {**row, **values}

    def added_of(self, kind: type) -> list[Any]:
        return [aggregate for aggregate in self._added.values() if type(aggregate) is kind]

    def _new_policies(self) -> dict[str, Row]:
        """Each version not stored yet, its first document (a version is never replaced)."""
        new: dict[str, Row] = {}
        for row in self._staged.policies:
            if row["version"] not in self._db.policies and row["version"] not in new:
                new[row["version"]] = {**row, "document": encoded(row["document"])}
        return new

    def _snapshot_writes(
        self,
    ) -> tuple[list[tuple[str, datetime]], dict[tuple[str, datetime], Row]]:
        """The snapshots deleted, then those added; a day taken twice is a Conflict."""
        deleted = [
            (shop_id, taken_at)
            for shop_id, start, end in self._staged.deleted_snapshots
            for taken_at in self._db.snapshots.get(shop_id, {})
            if start <= taken_at <= end
        ]
        deleted = list(dict.fromkeys(deleted))
        gone = set(deleted)
        added: dict[tuple[str, datetime], Row] = {}
        for row in self._staged.snapshots:
            key = (row["shop_id"], utc(row["taken_at"]))
            there = key[1] in self._db.snapshots.get(key[0], {}) and key not in gone
            if there or key in added:
                raise Conflict(
                    f"the database refused a duplicate: snapshot of shop {key[0]} at "
                    f"{iso(key[1])} is stored already"
                )
            added[key] = {
                "shop_id": key[0],
                "taken_at": key[1],
                "score": row["score"],
                "tier": row["tier"],
                "alert_open": row["alert_open"],
                "report": encoded(row["report"]),
            }
        return deleted, added

    def _event_rows(self) -> list[Row]:
        """Every event recorded in this unit of work, in the order it was recorded."""
        recorded = list(self._staged.recorded)
        for aggregate in chain((seen for seen, _ in self._seen.values()), self._added.values()):
            recorded.extend(aggregate.recorded)
        if not recorded:
            return []
        recorded.sort(key=_serial)
        recorded_at, first = utc(self._now()), len(self._db.events) + 1
        return [
            {
                "seq": seq,
                "event_id": str(uuid7()),
                "type": event.type,
                "at": utc(event.at),
                "recorded_at": recorded_at,
                "case_id": event.case_id,
                "order_id": event.order_id,
                "shop_id": event.shop_id,
                "data": encoded(event.data or {}),
                "tx_id": None,
            }
            for seq, event in enumerate(recorded, start=first)
        ]


def _serial(event: Event) -> int:
    return event.serial


def _stale(table: Table[Any], changed: Sequence[Any]) -> Conflict:
    """The Conflict the SQL store raises when a compare-and-set finds another version."""
    first = changed[0]
    if len(changed) == 1 and isinstance(first, Case):
        return Conflict(
            f"case {first.case_id} was changed by another writer; try again",
            case_id=first.case_id,
            state=first.state.value,
        )
    article = "an" if table.noun[0] in "aeiou" else "a"
    return Conflict(f"{article} {table.noun} was changed by another writer; try again")
