"""What an aggregate keeps, read off its dataclass: the one declaration of its fields.

The table and its row mapping (:mod:`aftersale.adapters.mapping`), the columns a write may
change, the view hosts see (:mod:`aftersale.service.views`) and ``verify``'s reading of raw rows
(:mod:`aftersale.domain.invariants.reading`) all derive from the fields of ``Order``, ``Case``
and ``Message`` and their metadata (``ONCE``, ``UNSHOWN``, ``VERSION``, ``NOT_STORED`` in
:mod:`aftersale.domain.model`). Adding a field is one edit there and a migration;
``tests/integration/test_declared_schema.py`` fails when the migration is forgotten.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter
from typing import Any, Union, get_args, get_origin, get_type_hints

# The types a stored field may have; a StrEnum subclass is stored as its value.
PLAIN = (str, Decimal, datetime, bool, int, dict, list)  # dict and list: JSON
_ATTRIBUTES: dict[type, tuple[Attribute, ...]] = {}
_CHANGEABLE: dict[type, tuple[str, ...]] = {}
_STATE: dict[type, attrgetter[Any]] = {}


@dataclass(frozen=True, slots=True)
class Attribute:
    """One stored field of an aggregate."""

    name: str
    kind: type  # one of PLAIN, or a StrEnum subclass
    optional: bool  # None is a value it may hold
    once: bool  # set when the aggregate is created, never changed afterwards
    shown: bool  # a key of the aggregate's view
    version: bool  # the compare-and-set counter every write of the aggregate increments

    @property
    def choices(self) -> type[StrEnum] | None:
        return self.kind if issubclass(self.kind, StrEnum) else None


def attributes(aggregate: type) -> tuple[Attribute, ...]:
    """The stored fields of ``aggregate``, in declaration order."""
    known = _ATTRIBUTES.get(aggregate)
    if known is None:
        known = _ATTRIBUTES[aggregate] = _read(aggregate)
    return known


def _read(aggregate: type) -> tuple[Attribute, ...]:
    hints = get_type_hints(aggregate)
    found = []
    for declared in fields(aggregate):
        meta = declared.metadata
        if not meta.get("stored", True):
            continue
        kind, optional = _unwrapped(hints[declared.name])
        if not (kind in PLAIN or issubclass(kind, StrEnum)):
            raise TypeError(f"{aggregate.__name__}.{declared.name}: cannot store a {kind}")
        found.append(
            Attribute(
                declared.name,
                kind,
                optional,
                once=bool(meta.get("once", False)),
                shown=bool(meta.get("shown", True)),
                version=bool(meta.get("version", False)),
            )
        )
    return tuple(found)


def changeable(aggregate: type) -> tuple[str, ...]:
    """The fields a write after the first may change (the version among them)."""
    known = _CHANGEABLE.get(aggregate)
    if known is None:
        known = _CHANGEABLE[aggregate] = tuple(a.name for a in attributes(aggregate) if not a.once)
    return known


def state_of(aggregate: object) -> tuple[Any, ...]:
    """The values of the fields a write may change, to tell whether anything did."""
    read = _STATE.get(type(aggregate))
    if read is None:  # one C call per aggregate loaded and committed: a sweep makes thousands
        read = _STATE[type(aggregate)] = attrgetter(*changeable(type(aggregate)))
    return read(aggregate)


def _unwrapped(hint: Any) -> tuple[type, bool]:
    """(the type, whether None is allowed) of ``X``, ``X | None`` or ``dict[str, Any]``."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        present = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(present) != 1:
            raise TypeError(f"a stored field is one type or None, not {hint}")
        return _unwrapped(present[0])[0], True
    if origin is not None:
        return origin, False
    return hint, False
