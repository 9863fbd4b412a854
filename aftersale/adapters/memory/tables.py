"""What the memory backend stores, and how: rows as the SQL columns hold them, under one lock.

A table holds what the SQL columns hold (money and the words of workflows.md as text, instants
in UTC, JSON encoded as the SQL engine encodes it), so what the SQL store would keep or refuse
is what this one keeps or refuses, and ``verify`` reads the same rows from either. A row is
never changed in place, only replaced, and every read builds fresh objects from it: what a
unit of work does to the objects it was handed changes nothing stored until it commits.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

import orjson

from aftersale.clock import iso
from aftersale.domain.declared import attributes, changeable
from aftersale.domain.model import Case, Message, Order
from aftersale.domain.tickets.model import Punishment, Shop, Ticket

Aggregate = Order | Case | Message | Ticket | Punishment | Shop
A = TypeVar("A", bound=Aggregate)
Row = dict[str, Any]
Convert = Callable[[Any], Any] | None
# what the cases table keeps beside a case's own fields (the SQL table's extra columns)
CASE_MARKS = ("quarantined_at", "quarantine_error", "reminded_for")
QUARANTINE_MARKS = ("quarantined_at", "quarantine_error")  # a ticket's, a punishment's


def utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def encoded(value: Any) -> bytes:
    """JSON as the SQL engine encodes it (db.JSON_CODEC)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _text(member: StrEnum) -> str:
    return member.value


def _dumper(kind: type) -> Convert:
    if kind is Decimal:
        return str
    if kind is datetime:
        return utc
    if kind is dict or kind is list:
        return encoded
    return _text if issubclass(kind, StrEnum) else None


def _loader(kind: type) -> Convert:
    if kind is Decimal or issubclass(kind, StrEnum):
        return kind
    return orjson.loads if kind is dict or kind is list else None


def _converted(value: Any, convert: Convert) -> Any:
    return value if convert is None or value is None else convert(value)


class Table(Generic[A]):
    """One aggregate's rows by key, and the conversions between rows and objects."""

    def __init__(self, aggregate: type[A], noun: str, key: str, extra: Sequence[str] = ()) -> None:
        self.aggregate: type[A] = aggregate
        self.noun = noun  # as the SQL store's errors name it
        self.key = key
        self.extra = tuple(extra)
        self.rows: dict[str, Row] = {}
        declared = attributes(aggregate)
        self._dumpers = tuple((f.name, _dumper(f.kind)) for f in declared)
        self._loaders = tuple((f.name, _loader(f.kind)) for f in declared)
        self._json = tuple(f.name for f in declared if f.kind is dict or f.kind is list)
        self._changeable = tuple(
            pair for pair in self._dumpers if pair[0] in changeable(aggregate)
        )

    def key_of(self, aggregate: A) -> str:
        key: str = getattr(aggregate, self.key)
        return key

    def load(self, row: Row) -> A:
        return self.aggregate(
            **{name: _converted(row[name], load) for name, load in self._loaders}
        )

    def inserted(self, aggregate: A) -> Row:
        row = {name: _converted(getattr(aggregate, name), d) for name, d in self._dumpers}
        return {**row, "version": 1, **dict.fromkeys(self.extra)}

    def updated(self, stored: Row, aggregate: A) -> Row:
        """The stored row with the aggregate's changeable fields, one version on (what the
        SQL compare-and-set's UPDATE writes: the other columns stay as stored)."""
        row = {name: _converted(getattr(aggregate, name), d) for name, d in self._changeable}
        return {**stored, **row, "version": stored["version"] + 1}

    def raw(self, row: Row) -> Row:
        """The row as ``verify`` reads it: JSON columns decoded, everything else as stored."""
        return {**row, **{name: _converted(row[name], orjson.loads) for name in self._json}}


class Database:
    """Every table, and the lock every read of more than one row and every commit holds.

    The lock is what a transaction's snapshot is on the SQL side: a commit applies all its
    writes under it, so a read under it sees each commit whole or not at all.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.orders = Table(Order, "order", "order_id")
        self.cases = Table(Case, "case", "case_id", CASE_MARKS)
        self.messages = Table(Message, "message", "message_id")
        self.shops = Table(Shop, "shop", "shop_id")
        self.tickets = Table(Ticket, "ticket", "ticket_id", QUARANTINE_MARKS)
        self.punishments = Table(Punishment, "punishment", "punishment_id", QUARANTINE_MARKS)
        self.tables: dict[type, Table[Any]] = {
            Order: self.orders,
            Case: self.cases,
            Message: self.messages,
            Shop: self.shops,
            Ticket: self.tickets,
            Punishment: self.punishments,
        }
        self.cases_of_order: dict[str, list[str]] = {}
        self.policies: dict[str, Row] = {}
        self.snapshots: dict[str, dict[datetime, Row]] = {}  # by shop, by taken_at
        self.events: list[Row] = []  # event n at index n - 1
        self.events_of_shop: dict[str, list[Row]] = {}
        self.events_of_case: dict[str, list[Row]] = {}
        # (table noun, key) -> the unit of work that claimed the row
        self.held: dict[tuple[str, str], object] = {}

    def append(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.events.append(row)
            if row["shop_id"] is not None:
                self.events_of_shop.setdefault(row["shop_id"], []).append(row)
            if row["case_id"] is not None:
                self.events_of_case.setdefault(row["case_id"], []).append(row)

    def claim(
        self,
        found: Iterable[Row],
        limit: int,
        by: object,
        table: Table[Any] | None = None,
        deadline: str = "deadline_at",
    ) -> list[Row]:
        """The first ``limit`` of ``found`` (rows of ``table``, the cases by default) in
        (deadline, key) order that no other unit of work holds, held by ``by`` from now on
        (``FOR UPDATE SKIP LOCKED``, in memory)."""
        table = table or self.cases
        noun, key = table.noun, table.key
        free = (row for row in found if self.held.get((noun, row[key]), by) is by)
        claimed = heapq.nsmallest(max(limit, 0), free, key=lambda row: (row[deadline], row[key]))
        self.held.update(dict.fromkeys(((noun, row[key]) for row in claimed), by))
        return claimed

    def let_go(self, by: object) -> None:
        with self.lock:
            for held in [key for key, holder in self.held.items() if holder is by]:
                del self.held[held]


def event_view(row: Row) -> dict[str, Any]:
    """An event as hosts see it: the envelope, then its own fields."""
    return {
        "seq": row["seq"],
        "event_id": row["event_id"],
        "type": row["type"],
        "at": iso(row["at"]),
        "recorded_at": iso(row["recorded_at"]),
        "case_id": row["case_id"],
        "order_id": row["order_id"],
        "shop_id": row["shop_id"],
        **orjson.loads(row["data"]),
    }
