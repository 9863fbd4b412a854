"""The read model on SQLAlchemy: views, lists, the outbox, the timers' backlog, and every
row in one snapshot for ``verify``."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Row, Table, Text, case, cast, func, select, type_coerce
from sqlalchemy.types import NullType

from aftersale.adapters.cursor import after_params, parse_cursor, token
from aftersale.adapters.governance_rows import ANY_PUNISHMENT_DUE, ANY_TICKET_DUE
from aftersale.adapters.mapping import CASES, ORDERS, PUNISHMENTS, SHOPS, TICKETS
from aftersale.adapters.outbox import AFTER, from_another_server, held_back
from aftersale.adapters.reading import Reader
from aftersale.adapters.rows import as_utc, by_key, event_dict
from aftersale.adapters.schema import (
    cases,
    events,
    messages,
    orders,
    policies,
    punishments,
    shops,
    tickets,
)
from aftersale.adapters.statements import ANY_DUE
from aftersale.clock import iso
from aftersale.domain.model import Case, Order
from aftersale.domain.tickets.events import TICKET_EVENTS
from aftersale.domain.tickets.model import Punishment, Shop, Ticket, TicketState

OUTBOX_WAIT = 1.0  # seconds an outbox read waits for the transactions older than its events


class SqlReads(Reader):
    def order(self, order_id: str) -> Order | None:
        with self._reading() as connection:
            row = by_key(orders, "order_id").first(connection, {"k": order_id})
        return None if row is None else ORDERS.load(row)

    def case(self, case_id: str) -> Case | None:
        with self._reading() as connection:
            row = by_key(cases, "case_id").first(connection, {"k": case_id})
        return None if row is None else CASES.load(row)

    def any_due(self, until: datetime) -> bool:
        params = {"until": until}
        with self._reading() as connection:
            return (
                ANY_DUE.first(connection, params) is not None
                or ANY_TICKET_DUE.first(connection, params) is not None
                or ANY_PUNISHMENT_DUE.first(connection, params) is not None
            )

    def ticket(self, ticket_id: str) -> Ticket | None:
        with self._reading() as connection:
            row = by_key(tickets, "ticket_id").first(connection, {"k": ticket_id})
        return None if row is None else TICKETS.load(row)

    def ticket_history(self, ticket_id: str) -> list[dict[str, Any]]:
        """The events about one ticket, in seq order: its shop's ticket events, filtered."""
        with self._reading() as connection:
            shop_id = connection.execute(
                select(tickets.c.shop_id).where(tickets.c.ticket_id == ticket_id)
            ).scalar()
            if shop_id is None:
                return []
            query = (
                select(events)
                .where(events.c.shop_id == shop_id, events.c.type.in_(TICKET_EVENTS))
                .order_by(events.c.seq)
            )
            found = [event_dict(row) for row in connection.execute(query)]
        return [event for event in found if event.get("ticket_id") == ticket_id]

    def list_tickets(
        self, filters: dict[str, Any], limit: int, after: str | None = None
    ) -> list[Ticket]:
        query = select(tickets).order_by(tickets.c.ticket_id).limit(limit)
        if after is not None:
            query = query.where(tickets.c.ticket_id > after)
        for column, value in filters.items():
            if value is not None:
                query = query.where(tickets.c[column] == value)
        with self._reading() as connection:
            return [TICKETS.load(row) for row in connection.execute(query)]

    def shop(self, shop_id: str) -> Shop | None:
        with self._reading() as connection:
            row = by_key(shops, "shop_id").first(connection, {"k": shop_id})
        return None if row is None else SHOPS.load(row)

    def punishments(self, shop_id: str) -> list[Punishment]:
        query = (
            select(punishments)
            .where(punishments.c.shop_id == shop_id)
            .order_by(punishments.c.started_at, punishments.c.punishment_id)
        )
        with self._reading() as connection:
            return [PUNISHMENTS.load(row) for row in connection.execute(query)]

    def all_tickets(self, page: int = 5000) -> Iterator[Ticket]:
        rows = self._pages(tickets, tickets.c.ticket_id, page)
        yield from (TICKETS.load(row) for row in rows)

    def history(self, case_id: str) -> list[dict[str, Any]]:
        query = select(events).where(events.c.case_id == case_id).order_by(events.c.seq)
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
            return [CASES.load(row) for row in connection.execute(query)]

    def all_cases(self, page: int = 5000) -> Iterator[Case]:
        yield from (CASES.load(row) for row in self._pages(cases, cases.c.case_id, page))

    def all_orders(self, page: int = 5000) -> Iterator[Order]:
        yield from (ORDERS.load(row) for row in self._pages(orders, orders.c.order_id, page))

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
            governance = _governance_backlog(connection, now)
        overdue += governance["overdue"]
        oldest = _earliest(oldest, governance["oldest"])
        upcoming = _earliest(upcoming, governance["upcoming"])
        return {
            "overdue": int(overdue),
            "oldest_overdue_at": oldest if oldest is None else as_utc(oldest),
            "next_deadline_at": upcoming if upcoming is None else as_utc(upcoming),
            "overdue_replies": governance["overdue_replies"],
            "quarantined_tickets": governance["quarantined_tickets"],
            "quarantined_punishments": governance["quarantined_punishments"],
            "quarantined": [
                {"case_id": r.case_id, "at": iso(r.quarantined_at), "error": r.quarantine_error}
                for r in quarantined
            ],
        }

    def count_events(self) -> int:
        with self._reading() as connection:
            return int(connection.execute(select(func.count()).select_from(events)).scalar_one())

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
            (shops, "shop_id"),
            (tickets, "ticket_id"),
            (punishments, "punishment_id"),
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


def _governance_backlog(connection: Any, now: datetime) -> dict[str, Any]:
    """The tickets' and punishments' deadlines the timers owe, and the platform's replies
    overdue (tickets under review past their SLA, its reply_overdue fired or not)."""
    overdue, oldest, upcoming = 0, None, None
    for deadline, live in (
        (tickets.c.deadline_at, tickets.c.quarantined_at.is_(None)),
        (
            punishments.c.ends_at,
            punishments.c.ended_at.is_(None) & punishments.c.quarantined_at.is_(None),
        ),
    ):
        count, first = connection.execute(
            select(func.count(), func.min(deadline)).where(deadline <= now, live)
        ).one()
        later = connection.execute(select(func.min(deadline)).where(deadline > now, live)).scalar()
        overdue += int(count)
        oldest = _earliest(oldest, first)
        upcoming = _earliest(upcoming, later)
    replies = connection.execute(
        select(func.count()).where(
            tickets.c.state == TicketState.under_review.value,
            (tickets.c.deadline_at.is_(None)) | (tickets.c.deadline_at <= now),
        )
    ).scalar_one()
    held = {}
    for table, key in ((tickets, "ticket_id"), (punishments, "punishment_id")):
        rows = connection.execute(
            select(table.c[key], table.c.quarantined_at, table.c.quarantine_error)
            .where(table.c.quarantined_at.is_not(None))
            .order_by(table.c.quarantined_at, table.c[key])
        ).all()
        held[table.name] = [
            {key: row[0], "at": iso(as_utc(row[1])), "error": row[2]} for row in rows
        ]
    return {
        "overdue": overdue,
        "oldest": oldest,
        "upcoming": upcoming,
        "overdue_replies": int(replies),
        "quarantined_tickets": held["tickets"],
        "quarantined_punishments": held["punishments"],
    }


def _earliest(first: Any, second: Any) -> Any:
    """The earlier of two instants, either None (SQLite may hand back text: as_utc)."""
    if first is None or second is None:
        return second if first is None else first
    return min(as_utc(first), as_utc(second))
