"""The SQLAlchemy store: the event log, reads for operators, and the transactions commands
run in (:mod:`aftersale.adapters.transaction`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Row,
    Table,
    Text,
    case,
    cast,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.types import NullType

from aftersale.adapters.db import BEGIN_READ, BEGIN_WRITE, READ_ONLY, translate_errors
from aftersale.adapters.outbox import (
    AFTER,
    after_params,
    from_another_server,
    held_back,
    parse_cursor,
    renumber,
    token,
)
from aftersale.adapters.prepared import Link
from aftersale.adapters.rollups import Rollups
from aftersale.adapters.rows import as_utc, case_from, event_dict, order_from
from aftersale.adapters.schema import cases, events, messages, orders, policies, snapshots
from aftersale.adapters.transaction import SqlTransaction
from aftersale.clock import iso
from aftersale.domain.health.items import Count
from aftersale.domain.model import Case, Order
from aftersale.errors import Conflict

__all__ = ["SqlStore", "SqlTransaction"]

OUTBOX_WAIT = 1.0  # seconds an outbox read waits for the transactions older than its events


class SqlStore:
    """The store over one SQLAlchemy engine."""

    def __init__(self, engine: Engine, rollups: Rollups | None = None) -> None:
        self.engine = engine
        self.rollups = rollups  # kept with every append when given
        self.sqlite = engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with translate_errors(self.engine), self._linked(reading=False) as link:
            yield SqlTransaction(link, self.rollups)

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        """A transaction that only reads: on SQLite it takes no write lock."""
        with translate_errors(self.engine), self._linked(reading=True) as link:
            yield SqlTransaction(link)

    @contextmanager
    def _linked(self, reading: bool) -> Iterator[Link]:
        """A pooled driver connection in a transaction, committed if the block ends cleanly.

        Commands run here rather than in a SQLAlchemy transaction: checking a connection out,
        beginning and committing through SQLAlchemy cost more than SQLite takes to commit.
        The pool is SQLAlchemy's (its pre-ping, its reset on return) and errors are raised as
        SQLAlchemy raises them.
        """
        pooled = self.engine.raw_connection()
        link = Link(pooled.dbapi_connection, self.engine.dialect, pooled.invalidate)
        try:
            if self.sqlite:  # the engine's own BEGIN for SQLite (see db.py)
                (BEGIN_READ if reading else BEGIN_WRITE).run(link)
            yield link
            with link.errors("COMMIT"):
                pooled.commit()
        except BaseException:
            if pooled.dbapi_connection is not None:  # None once invalidated
                with suppress(Exception):
                    pooled.rollback()
            raise
        finally:
            pooled.close()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads alone: on SQLite its transaction begins without the write
        lock (WAL readers neither wait for the writer nor hold it up), so a daemon's status
        line or a host's case view never queues behind a sweep, a snapshot or a command."""
        with translate_errors(self.engine), self.engine.connect() as connection:
            yield connection.execution_options(**{READ_ONLY: True})

    def history(self, case_id: str) -> list[dict[str, Any]]:
        query = select(events).where(events.c.case_id == case_id).order_by(events.c.seq)
        with self._reading() as connection:
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
        with self._reading() as connection:
            return {row.shop_id: (row.market, row.paid_at) for row in connection.execute(query)}

    def last_seq(self) -> int:
        with self._reading() as connection:
            return int(connection.execute(select(func.max(events.c.seq))).scalar() or 0)

    def orders_paid_after(self, cursor: int) -> list[tuple[str, str, datetime, int]]:
        """(shop, market, paid_at, seq) of every order paid after event ``cursor``, in order."""
        query = (
            select(events.c.shop_id, events.c.at, events.c.data, events.c.seq)
            .where(events.c.seq > cursor, events.c.type == "order.paid")
            .order_by(events.c.seq)
        )
        with self._reading() as connection:
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
        with self._reading() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def latest_snapshot_per_shop(self) -> dict[str, datetime]:
        """Each shop's latest daily snapshot, by shop id: is the nightly job keeping up?"""
        latest = func.max(snapshots.c.taken_at)
        query = select(snapshots.c.shop_id, latest).group_by(snapshots.c.shop_id)
        with self._reading() as connection:
            rows = connection.execute(query.order_by(snapshots.c.shop_id)).all()
        return {shop_id: as_utc(taken_at) for shop_id, taken_at in rows}

    def has_shop(self, shop_id: str) -> bool:
        query = select(events.c.seq).where(events.c.shop_id == shop_id).limit(1)
        with self._reading() as connection:
            return connection.execute(query).first() is not None

    def health_counts(self, shop_id: str, as_of: datetime) -> dict[str, Count] | None:
        """The shop's health counts from the rollups; None when the event log must be folded."""
        if self.rollups is None:
            return None
        with self._reading() as connection:
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
        with self._reading() as connection:
            return self.rollups.current(connection)

    def rebuild_health(self, now: datetime, on_events: Callable[[int], None]) -> int:
        """Recompute the health rollups from the event log; how many subjects they hold."""
        if self.rollups is None:
            return 0
        with translate_errors(self.engine), self.engine.begin() as connection:
            return self.rollups.rebuild(connection, now, on_events)

    def prune_health(
        self,
        before: datetime,
        should_stop: Callable[[], bool] = lambda: False,
        pairs_at_once: int = 200,
    ) -> tuple[int, int] | None:
        """Delete the health rollups' items and hours before ``before``, a few hundred (shop,
        measure) pairs a transaction so writers never wait long; (items, hours) deleted, or
        None when the rollups are not current (reports fold the log until they are rebuilt).

        The rollups say first that they start at ``before``, in a transaction of its own: from
        its commit no report trusts them further back, so none reads a half-pruned hour.
        """
        if self.rollups is None:
            return None
        with translate_errors(self.engine), self.engine.begin() as connection:
            if not self.rollups.start_pruning(connection, before):
                return None
        items = hours = 0
        while not should_stop():  # asked between transactions: the next prune goes on
            with translate_errors(self.engine), self.engine.begin() as connection:
                some_items, some_hours = self.rollups.prune_some(connection, before, pairs_at_once)
            if not some_hours:  # every pair with old items had old hours to delete
                return items, hours
            items, hours = items + some_items, hours + some_hours
        return items, hours

    def shop_events(self, shop_id: str) -> list[dict[str, Any]]:
        """Every event of one shop, oldest first (the health score's input)."""
        query = select(events).where(events.c.shop_id == shop_id).order_by(events.c.seq)
        with self._reading() as connection:
            return [event_dict(row) for row in connection.execute(query)]

    def events_after(self, cursor: object, limit: int) -> list[dict[str, Any]]:
        """Committed events after a cursor token (outbox.py), oldest first, each with the
        ``cursor`` to pass back for the events after it."""
        params = after_params(parse_cursor(cursor), limit)
        query = AFTER[self.engine.dialect.name]
        with self._reading() as connection:
            rows = query.rows(connection, params)
            if len(rows) < limit and not self.sqlite and held_back(connection, OUTBOX_WAIT):
                rows = query.rows(connection, params)  # in a snapshot of its own
        return [{**event_dict(row), "cursor": token(row.tx_id, row.seq)} for row in rows]

    def log_after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        """The events visible now with ``seq`` above ``seq``, in seq order (not the outbox:
        on PostgreSQL an event with a lower seq may still commit later)."""
        with self._reading() as connection:
            rows = AFTER["sqlite"].rows(connection, after_params((0, seq), limit))
        return [event_dict(row) for row in rows]

    def outbox_from_another_server(self) -> bool:
        """Whether the events came from another PostgreSQL server's transactions (a restore),
        so that new events would sort behind relays' cursors until renumbered."""
        if self.sqlite:
            return False
        with self._reading() as connection:
            return from_another_server(connection)

    def renumber_outbox(self) -> int:
        """After a restore into another server: every event to transaction 0 (outbox.py)."""
        if not self.outbox_from_another_server():
            return 0
        with translate_errors(self.engine), self.engine.begin() as connection:
            return renumber(connection)

    def iter_events(self, batch: int = 5000) -> Iterator[dict[str, Any]]:
        cursor = "0.0"
        while page := self.events_after(cursor, batch):
            yield from page
            cursor = page[-1]["cursor"]

    def list_cases(
        self, filters: dict[str, Any], limit: int, after: str | None = None
    ) -> list[Case]:
        query = select(cases).order_by(cases.c.case_id).limit(limit)
        if after is not None:  # the cursor: the last case id of the page before
            query = query.where(cases.c.case_id > after)
        for column, value in filters.items():
            if value is not None:
                query = query.where(cases.c[column] == value)
        with self._reading() as connection:
            return [case_from(row) for row in connection.execute(query)]

    def all_cases(self, page: int = 5000) -> Iterator[Case]:
        yield from (case_from(row) for row in self._pages(cases, cases.c.case_id, page))

    def all_orders(self, page: int = 5000) -> Iterator[Order]:
        yield from (order_from(row) for row in self._pages(orders, orders.c.order_id, page))

    def policy_versions(self) -> set[str]:
        with self._reading() as connection:
            return set(connection.execute(select(policies.c.version)).scalars())

    def _pages(self, table: Table, key: Any, page: int) -> Iterator[Row[Any]]:
        cursor = ""
        while True:
            query = select(table).where(key > cursor).order_by(key).limit(page)
            with self._reading() as connection:
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
        with self._reading() as connection:
            row = connection.execute(query).first()
        return None if row is None else (row.deadline_at, row.case_id)

    def backlog(self, now: datetime) -> dict[str, Any]:
        """What the timers owe: overdue deadlines, the oldest, the next, quarantined cases."""
        live = cases.c.quarantined_at.is_(None)
        with self._reading() as connection:
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
        with self._reading() as connection:
            return int(connection.execute(select(func.count()).select_from(events)).scalar_one())

    # -- verify: every row, in one snapshot -------------------------------------------------

    def verification_rows(self, page: int = 5000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every policy, message, order, case and event row, as ``(table name, row)`` pairs,
        each table paged by its key, all read in one transaction: one consistent snapshot
        while writers go on (REPEATABLE READ, read only, on PostgreSQL; on SQLite one read
        transaction, whose WAL snapshot is taken at its first read and kept to its end).

        Values come as the driver returns them, unconverted: JSON columns as text and, on
        SQLite, instants as text, so that a damaged row is for ``verify`` to report rather
        than an error raised here halfway through the read.
        """
        keyed = (
            (policies, "version"),
            (messages, "message_id"),
            (orders, "order_id"),
            (cases, "case_id"),
            (events, "seq"),
        )
        with self._reading() as connection:
            if not self.sqlite:
                connection = connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with connection.begin():
                for table, key in keyed:
                    raw = [
                        (
                            cast(c, Text)
                            if isinstance(c.type, JSON)
                            else type_coerce(c, NullType())
                        ).label(c.name)
                        for c in table.c
                    ]
                    after: Any = None
                    while True:
                        query = select(*raw).order_by(table.c[key]).limit(page)
                        if after is not None:
                            query = query.where(table.c[key] > after)
                        rows = connection.execute(query).mappings().all()
                        yield from ((table.name, dict(row)) for row in rows)
                        if len(rows) < page:
                            break
                        after = rows[-1][key]

    # -- policy list ------------------------------------------------------------------------

    def policy_usage(self, terminal: Collection[str]) -> list[dict[str, Any]]:
        """Every policy version stored or pinned, oldest first: when it was stored (None for
        a version cases name but the table lacks, which ``verify`` reports), how many cases
        are pinned to it and how many of those are in a state not in ``terminal``."""
        open_ = func.sum(case((cases.c.state.not_in(list(terminal)), 1), else_=0))
        pinned = select(cases.c.policy_version, func.count(), open_).group_by(
            cases.c.policy_version
        )
        with self._reading() as connection:
            if not self.sqlite:  # both tables as of one instant
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                stored = connection.execute(select(policies.c.version, policies.c.created_at))
                found: dict[str, dict[str, Any]] = {
                    version: {"stored_at": as_utc(at), "cases": 0, "open_cases": 0}
                    for version, at in stored
                }
                for version, count, open_count in connection.execute(pinned):
                    row = found.setdefault(version, {"stored_at": None})
                    row.update(cases=int(count), open_cases=int(open_count or 0))
        rows = [{"version": version, **row} for version, row in found.items()]
        return sorted(rows, key=lambda row: (iso(row["stored_at"]) or "~", row["version"]))
