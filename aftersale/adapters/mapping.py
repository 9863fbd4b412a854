"""Aggregates to rows and back, derived from their one declaration (aftersale.domain.declared).

A :class:`Mapped` aggregate knows its table, how a row becomes the aggregate (money from text,
words of workflows.md from their values) and the statements the unit of work writes it with:
an insert of every column, and a compare-and-set update of the changeable ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, bindparam, insert, update

from aftersale.adapters.prepared import Prepared
from aftersale.adapters.schema import cases, messages, orders, punishments, shops, tickets
from aftersale.domain.declared import attributes, changeable
from aftersale.domain.model import Case, Message, Order
from aftersale.domain.tickets.model import Punishment, Shop, Ticket

A = TypeVar("A")
Convert = Callable[[Any], Any] | None


class Mapped(Generic[A]):
    """One aggregate's table and the conversions between its rows and its objects."""

    def __init__(self, aggregate: type[A], table: Table, key: str) -> None:
        self.aggregate = aggregate
        self.table = table
        self.key = key
        self.names = tuple(field.name for field in attributes(aggregate))
        self.changeable = changeable(aggregate)
        self._load = _row_loader(
            aggregate, [_loader(field.kind) for field in attributes(aggregate)]
        )
        self._dumpers = tuple((field.name, _dumper(field.kind)) for field in attributes(aggregate))
        self._changed = tuple(
            (name, f"v_{name}", dump) for name, dump in self._dumpers if name in self.changeable
        )

    def key_of(self, aggregate: A) -> str:
        return getattr(aggregate, self.key)  # type: ignore[no-any-return]

    def load(self, row: Sequence[Any]) -> A:
        """The aggregate of a row of ``select(table)`` (its columns in declaration order; the
        table's own columns come last)."""
        return self._load(row)

    def values(self, aggregate: A) -> dict[str, Any]:
        """Every stored field, as the table's columns take it."""
        return _dumped(aggregate, self._dumpers)

    def changes(self, aggregate: A, expected: int) -> dict[str, Any]:
        """The parameters of :attr:`update`: the changeable fields, the next version."""
        row = {"k": getattr(aggregate, self.key), "expected": expected}
        for name, parameter, dump in self._changed:
            value = getattr(aggregate, name)
            row[parameter] = value if dump is None or value is None else dump(value)
        row["v_version"] = expected + 1
        return row

    @cached_property
    def insert(self) -> Prepared:
        return Prepared(insert(self.table).inline(), self.names)

    @cached_property
    def update(self) -> Prepared:
        """``UPDATE … SET <changeable> WHERE key = :k AND version = :expected``."""
        return Prepared(
            update(self.table)
            .where(
                self.table.c[self.key] == bindparam("k"),
                self.table.c.version == bindparam("expected"),
            )
            .values({name: bindparam(f"v_{name}") for name in self.changeable})
        )


def _dumped(aggregate: Any, dumpers: tuple[tuple[str, Convert], ...]) -> dict[str, Any]:
    out = {}
    for name, dump in dumpers:
        value = getattr(aggregate, name)
        out[name] = value if dump is None or value is None else dump(value)
    return out


def _row_loader(aggregate: type[A], loaders: Sequence[Convert]) -> Callable[[Sequence[Any]], A]:
    """``lambda row: aggregate(name=row[0], kind=load_1(row[1]) if ... , ...)`` over every stored
    field, written out once per aggregate as dataclasses writes an ``__init__``: a sweep loads
    two aggregates a case, and a dict of the row, a loop over its converted fields and a
    call by that dict took twice as long (a case: 8 µs against 3.5 here)."""
    arguments: list[str] = []
    scope: dict[str, Any] = {"aggregate": aggregate}
    for index, (field, load) in enumerate(zip(attributes(aggregate), loaders, strict=True)):
        value = f"row[{index}]"
        if load is not None:
            scope[f"load_{index}"] = load
            value = f"(None if {value} is None else load_{index}({value}))"
        arguments.append(f"{field.name}={value}")
    source = f"lambda row: aggregate({', '.join(arguments)})"
    return eval(source, scope)  # type: ignore[no-any-return]


def _loader(kind: type) -> Convert:
    if kind is Decimal:
        return kind
    if issubclass(kind, StrEnum):
        return _member(kind)
    if kind is dict:
        return dict
    if kind is list:
        return list
    return None


def _member(kind: type[StrEnum]) -> Callable[[str], StrEnum]:
    """The member of a stored value: a dict lookup, with the enum's own call (and its
    ValueError) for a value that names none; ``Kind(value)`` costs a class call each."""
    members: dict[str, StrEnum] = {member.value: member for member in kind}

    def member(value: str) -> StrEnum:
        found = members.get(value)
        return kind(value) if found is None else found

    return member


def _dumper(kind: type) -> Convert:
    if kind is Decimal:
        return str
    if issubclass(kind, StrEnum):
        return _value
    return None


def _value(member: StrEnum) -> str:
    return member.value


ORDERS: Mapped[Order] = Mapped(Order, orders, "order_id")
CASES: Mapped[Case] = Mapped(Case, cases, "case_id")
MESSAGES: Mapped[Message] = Mapped(Message, messages, "message_id")
TICKETS: Mapped[Ticket] = Mapped(Ticket, tickets, "ticket_id")
PUNISHMENTS: Mapped[Punishment] = Mapped(Punishment, punishments, "punishment_id")
SHOPS: Mapped[Shop] = Mapped(Shop, shops, "shop_id")
# in the order a commit writes them: a shop before the tickets against it
MAPPED: dict[type, Mapped[Any]] = {
    Order: ORDERS,
    Case: CASES,
    Message: MESSAGES,
    Shop: SHOPS,
    Ticket: TICKETS,
    Punishment: PUNISHMENTS,
}
