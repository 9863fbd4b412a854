"""Column and key values read defensively: each helper returns the typed value or raises
:class:`Unreadable` saying what is wrong with it, never anything else."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from aftersale.domain.declared import attributes

E = TypeVar("E", bound=StrEnum)
A = TypeVar("A")


class Unreadable(ValueError):
    """A value that is not what its column or key must hold."""


def instant(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise Unreadable(f"{name} {value!r} is not an instant") from None
    if not isinstance(value, datetime):
        raise Unreadable(f"{name} {value!r} is not an instant")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def maybe_instant(value: Any, name: str) -> datetime | None:
    return None if value is None else instant(value, name)


def amount(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise Unreadable(f"{name} {value!r} is not an amount")
    return number


def choice(kind: type[E], value: Any, name: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise Unreadable(f"{name} {value!r} is not a {kind.__name__.lower()}") from None


def text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise Unreadable(f"{name} {value!r} is not text")
    return value


def maybe_text(value: Any, name: str) -> str | None:
    return None if value is None else text(value, name)


def flag(value: Any, name: str, stored: bool = True) -> bool:
    """A boolean; a stored column may hold 0 or 1 (SQLite), JSON only true or false."""
    if isinstance(value, bool) or (stored and isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise Unreadable(f"{name} {value!r} is not true or false")


def whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unreadable(f"{name} {value!r} is not a whole number")
    return value


def document(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # nested too deeply is no document either
            raise Unreadable(f"{name} is not JSON this engine reads: {value[:60]!r}") from None
    if not isinstance(value, dict):
        raise Unreadable(f"{name} is not a JSON object: {value!r:.60}")
    return value


def listing(value: Any, name: str) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise Unreadable(f"{name} is not JSON this engine reads: {value[:60]!r}") from None
    if not isinstance(value, list):
        raise Unreadable(f"{name} is not a JSON list: {value!r:.60}")
    return value


def stored(aggregate: type[A], row: Mapping[str, Any]) -> A:
    """The aggregate a raw row holds, each field read by the kind its declaration gives
    (aftersale.domain.declared): a new field is read here without an edit."""
    values: dict[str, Any] = {}
    for field in attributes(aggregate):
        value = row[field.name]
        if value is None and field.optional:
            values[field.name] = None
        elif field.choices is not None:
            values[field.name] = choice(field.choices, value, field.name)
        else:
            values[field.name] = _READERS[field.kind](value, field.name)
    return aggregate(**values)


_READERS: dict[type, Callable[[Any, str], Any]] = {
    str: text,
    Decimal: amount,
    datetime: instant,
    bool: flag,
    int: whole,
    dict: document,
    list: listing,
}
