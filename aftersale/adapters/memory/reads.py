"""The read model in memory: views, lists, the outbox, the timers' backlog and ``verify``.

Each read takes what it needs under the database's lock, so it sees every commit whole or not
at all, as a read in its own SQL transaction does; objects and views are built from the rows
afterwards, fresh for every read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

import orjson

from aftersale.adapters.cursor import parse_cursor, token
from aftersale.adapters.memory.tables import Database, Row, Table, event_view
from aftersale.clock import iso
from aftersale.domain.model import Case, Order
from aftersale.domain.tickets.events import TICKET_EVENTS
from aftersale.domain.tickets.model import Punishment, Shop, Ticket, TicketState


def _case_id(row: Row) -> str:
    case_id: str = row["case_id"]
    return case_id


class MemoryReads:
    """What views, lists, the outbox, operators and ``verify`` read."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def order(self, order_id: str) -> Order | None:
        row = self._db.orders.rows.get(order_id)
        return None if row is None else self._db.orders.load(row)

    def case(self, case_id: str) -> Case | None:
        row = self._db.cases.rows.get(case_id)
        return None if row is None else self._db.cases.load(row)

    def history(self, case_id: str) -> list[dict[str, Any]]:
        with self._db.lock:
            rows = list(self._db.events_of_case.get(case_id, []))
        return [event_view(row) for row in rows]

    def list_cases(
        self, filters: dict[str, Any], limit: int, after: str | None = None
    ) -> list[Case]:
        wanted = {column: value for column, value in filters.items() if value is not None}
        with self._db.lock:
            found = [
                row
                for key, row in self._db.cases.rows.items()
                if (after is None or key > after)
                and all(row[column] == value for column, value in wanted.items())
            ]
        found.sort(key=_case_id)
        return [self._db.cases.load(row) for row in found[: max(limit, 0)]]

    def _live_deadlines(self) -> list[tuple[datetime, str]]:
        with self._db.lock:
            return [
                (row["deadline_at"], row["case_id"])
                for row in self._db.cases.rows.values()
                if row["deadline_at"] is not None and row["quarantined_at"] is None
            ]

    def _governance_deadlines(self) -> list[datetime]:
        """The tickets' live deadlines and the running punishments' planned ends."""
        db = self._db
        with db.lock:
            found = [
                row["deadline_at"]
                for row in db.tickets.rows.values()
                if row["deadline_at"] is not None and row["quarantined_at"] is None
            ]
            found += [
                row["ends_at"]
                for row in db.punishments.rows.values()
                if row["ended_at"] is None and row["quarantined_at"] is None
            ]
        return found

    def any_due(self, until: datetime) -> bool:
        return any(deadline <= until for deadline, _ in self._live_deadlines()) or any(
            deadline <= until for deadline in self._governance_deadlines()
        )

    def ticket(self, ticket_id: str) -> Ticket | None:
        row = self._db.tickets.rows.get(ticket_id)
        return None if row is None else self._db.tickets.load(row)

    def ticket_history(self, ticket_id: str) -> list[dict[str, Any]]:
        row = self._db.tickets.rows.get(ticket_id)
        if row is None:
            return []
        with self._db.lock:
            rows = list(self._db.events_of_shop.get(row["shop_id"], []))
        found = [event_view(r) for r in rows if r["type"] in TICKET_EVENTS]
        return [event for event in found if event.get("ticket_id") == ticket_id]

    def list_tickets(
        self, filters: dict[str, Any], limit: int, after: str | None = None
    ) -> list[Ticket]:
        wanted = {column: value for column, value in filters.items() if value is not None}
        table = self._db.tickets
        with self._db.lock:
            found = [
                row
                for key, row in table.rows.items()
                if (after is None or key > after)
                and all(row[column] == value for column, value in wanted.items())
            ]
        found.sort(key=lambda row: str(row["ticket_id"]))
        return [table.load(row) for row in found[: max(limit, 0)]]

    def shop(self, shop_id: str) -> Shop | None:
        row = self._db.shops.rows.get(shop_id)
        return None if row is None else self._db.shops.load(row)

    def punishments(self, shop_id: str) -> list[Punishment]:
        table = self._db.punishments
        with self._db.lock:
            rows = [row for row in table.rows.values() if row["shop_id"] == shop_id]
        rows.sort(key=lambda row: (row["started_at"], row["punishment_id"]))
        return [table.load(row) for row in rows]

    def all_tickets(self, page: int = 5000) -> Iterator[Ticket]:
        yield from (self._db.tickets.load(row) for row in self._pages(self._db.tickets, page))

    def next_deadline(self) -> tuple[datetime, str] | None:
        return min(self._live_deadlines(), default=None)

    def backlog(self, now: datetime) -> dict[str, Any]:
        """What the timers owe: overdue deadlines, the oldest, the next, quarantined cases."""
        deadlines = [deadline for deadline, _ in self._live_deadlines()]
        deadlines += self._governance_deadlines()
        overdue = [deadline for deadline in deadlines if deadline <= now]
        with self._db.lock:
            rows = self._db.cases.rows.values()
            quarantined = [row for row in rows if row["quarantined_at"] is not None]
            held = {
                table.noun: [row for row in table.rows.values() if row["quarantined_at"]]
                for table in (self._db.tickets, self._db.punishments)
            }
            replies = sum(
                1
                for row in self._db.tickets.rows.values()
                if row["state"] == TicketState.under_review.value
                and (row["deadline_at"] is None or row["deadline_at"] <= now)
            )
        quarantined.sort(key=lambda row: (row["quarantined_at"], row["case_id"]))
        return {
            "overdue": len(overdue),
            "oldest_overdue_at": min(overdue, default=None),
            "next_deadline_at": min((d for d in deadlines if d > now), default=None),
            "overdue_replies": replies,
            "quarantined_tickets": _held(held["ticket"], "ticket_id"),
            "quarantined_punishments": _held(held["punishment"], "punishment_id"),
            "quarantined": [
                {
                    "case_id": r["case_id"],
                    "at": iso(r["quarantined_at"]),
                    "error": r["quarantine_error"],
                }
                for r in quarantined
            ],
        }

    def events_after(self, cursor: object, limit: int) -> list[dict[str, Any]]:
        """Committed events after a cursor token (cursor.py), oldest first, each with the
        ``cursor`` to pass back for the events after it."""
        _, seq = parse_cursor(cursor)  # one writer at a time: the seq alone, as on SQLite
        return [
            {**event_view(row), "cursor": token(row["tx_id"], row["seq"])}
            for row in self._slice(seq, limit)
        ]

    def log_after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        return [event_view(row) for row in self._slice(seq, limit)]

    def _slice(self, seq: int, limit: int) -> list[Row]:
        start = max(seq, 0)
        with self._db.lock:
            return self._db.events[start : start + max(limit, 0)]

    def iter_events(self, batch: int = 5000) -> Iterator[dict[str, Any]]:
        cursor = "0.0"
        while page := self.events_after(cursor, batch):
            yield from page
            cursor = page[-1]["cursor"]

    def count_events(self) -> int:
        return len(self._db.events)

    def outbox_from_another_server(self) -> bool:
        return False

    def all_cases(self, page: int = 5000) -> Iterator[Case]:
        yield from (self._db.cases.load(row) for row in self._pages(self._db.cases, page))

    def all_orders(self, page: int = 5000) -> Iterator[Order]:
        yield from (self._db.orders.load(row) for row in self._pages(self._db.orders, page))

    def _pages(self, table: Table[Any], page: int) -> Iterator[Row]:
        """Every row in key order, a page at a time (each page read as of its own instant)."""
        cursor = ""
        while True:
            with self._db.lock:
                rows = [table.rows[key] for key in sorted(k for k in table.rows if k > cursor)]
            yield from rows[:page]
            if len(rows) <= page:
                return
            cursor = rows[page - 1][table.key]

    def verification_rows(self, page: int = 5000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every policy, message, order, case and event row, as ``(table name, row)`` pairs in
        key order, all as of one instant (copied at once: ``page`` does not apply); JSON
        columns decoded, the rest as stored (money and words as text, instants in UTC)."""
        db = self._db
        with db.lock:
            found: list[tuple[str, Row]] = [
                ("policies", {**row, "document": orjson.loads(row["document"])})
                for _, row in sorted(db.policies.items())
            ]
            for name, table in (
                ("messages", db.messages),
                ("orders", db.orders),
                ("cases", db.cases),
                ("shops", db.shops),
                ("tickets", db.tickets),
                ("punishments", db.punishments),
            ):
                found += [(name, table.raw(table.rows[key])) for key in sorted(table.rows)]
            found += [("events", {**row, "data": orjson.loads(row["data"])}) for row in db.events]
        yield from found

    def policy_versions(self) -> set[str]:
        return set(self._db.policies)

    def policy_usage(self, terminal: Collection[str]) -> list[dict[str, Any]]:
        """Every policy version stored or pinned, oldest first: when it was stored (None for
        a version cases name but the table lacks), how many cases are pinned to it and how
        many of those are in a state not in ``terminal``."""
        with self._db.lock:
            found: dict[str, dict[str, Any]] = {
                version: {"stored_at": row["created_at"], "cases": 0, "open_cases": 0}
                for version, row in self._db.policies.items()
            }
            for row in self._db.cases.rows.values():
                usage = found.setdefault(
                    row["policy_version"], {"stored_at": None, "cases": 0, "open_cases": 0}
                )
                usage["cases"] += 1
                usage["open_cases"] += int(row["state"] not in terminal)
        rows = [{"version": version, **row} for version, row in found.items()]
        return sorted(rows, key=lambda row: (iso(row["stored_at"]) or "~", row["version"]))


def _held(rows: list[Row], key: str) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda row: (row["quarantined_at"], row[key]))
    return [
        {key: row[key], "at": iso(row["quarantined_at"]), "error": row["quarantine_error"]}
        for row in rows
    ]
