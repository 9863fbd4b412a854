"""On PostgreSQL, a unit of work writes each table once: one statement fed by one JSON parameter.

The statements are :class:`~aftersale.adapters.prepared.Prepared` like every other the unit
of work runs: one way to the database.

psycopg's ``executemany`` sends one query per row (pipelined, but each row is bound, sent and
answered on its own): a sweep of 500 cases sent about 2,500. Here every changed row of a table
travels in one ``jsonb`` array, unpacked by ``jsonb_to_recordset`` into a compare-and-set
``UPDATE … FROM`` or an ``INSERT … SELECT`` kept in the array's order (``WITH ORDINALITY``),
so a batch costs one statement per table whatever its size. The JSON is encoded by orjson (the
engine's JSON codec), which is what makes it cheaper than binding each value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Table, Text, TypeDecorator, text
from sqlalchemy.exc import DBAPIError

from aftersale.adapters.mapping import Mapped
from aftersale.adapters.prepared import Link, Prepared
from aftersale.adapters.rows import EVENT_COLUMNS
from aftersale.adapters.schema import events


def update_all(link: Link, mapped: Mapped[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Compare-and-set ``rows`` (:meth:`Mapped.changes`) in one statement that fails with
    division by zero when fewer rows matched than were sent (:func:`stale`): checked in the
    database, so a pipelined unit of work need not wait for the count before its COMMIT,
    which the failed statement turns into a rollback."""
    run(link, _update_statement(mapped), rows, n=len(rows))


STALE = "22012"  # division_by_zero: only the compare-and-set divides


def stale(error: DBAPIError) -> bool:
    """Whether ``error`` is a compare-and-set of :func:`update_all` that missed a row."""
    return getattr(error.orig, "sqlstate", None) == STALE


def append_all(link: Link, rows: Sequence[dict[str, Any]]) -> None:
    """Insert events in one statement, their seq in the order given, each with the id of the
    writing transaction (the outbox's horizon: aftersale.adapters.outbox)."""
    run(link, _APPEND, rows)


def run(link: Link, statement: Prepared, rows: Sequence[dict[str, Any]], **extra: Any) -> None:
    """One statement over every row (its parameter ``rows``, the jsonb array). Nothing is
    sent for no rows; nothing is waited for in pipeline mode."""
    if rows:
        statement.run(link, {"rows": _json(rows), **extra})


def prepared(sql: str) -> Prepared:
    """A statement of this module, run like every other (aftersale.adapters.prepared)."""
    return Prepared(text(sql))


def recordset(table: Table, names: Sequence[str], keys: Sequence[str] | None = None) -> str:
    """The rows of the ``rows`` jsonb array, ``WITH ORDINALITY AS v(...)``, over ``names``
    (columns of ``table``; each called by its key in ``keys`` when given), kept in the array's
    order by ``v.n``."""
    keys = list(names) if keys is None else list(keys)
    typed = ", ".join(
        f"{key} {_pg_type(table.c[name].type)}" for name, key in zip(names, keys, strict=True)
    )
    return (
        f"ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb)) AS ({typed})) "
        f"WITH ORDINALITY AS v({', '.join(keys)}, n)"
    )


def insert_sql(table: Table, names: Sequence[str]) -> str:
    """Insert every row of the array, in its order."""
    columns = ", ".join(names)
    return (
        f"INSERT INTO {table.name} ({columns}) "
        f"SELECT {', '.join(f'v.{name}' for name in names)} FROM {recordset(table, names)} "
        "ORDER BY v.n"
    )


def _json(rows: Sequence[dict[str, Any]]) -> str:
    # Every instant through _instant: orjson refuses datetime subclasses (freezegun's, pandas')
    # and drops the seconds of an offset like +05:30:20; UTC text is exact for all of them.
    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
    return orjson.dumps(list(rows), default=_instant, option=options).decode()


def _instant(value: Any) -> str:
    if isinstance(value, datetime):  # every instant of a batch: UTC already, as a rule
        return (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat()
    raise TypeError(f"{type(value).__name__} is not stored as JSON")


@cache
def _update_statement(mapped: Mapped[Any]) -> Prepared:
    return prepared(_update_sql(mapped))


def _update_sql(mapped: Mapped[Any]) -> str:
    table, key = mapped.table, mapped.key
    changed = [table.c[name] for name in mapped.changeable]
    columns = ", ".join(f"{c.name} = v.v_{c.name}" for c in changed)
    record = ", ".join(
        [f"k {_pg_type(table.c[key].type)}", "expected integer"]
        + [f"v_{c.name} {_pg_type(c.type)}" for c in changed]
    )
    # count(*) is not a constant, so the division is never folded at plan time
    return (
        f"WITH changed AS (UPDATE {table.name} AS t SET {columns} "
        f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v({record}) "
        f"WHERE t.{key} = v.k AND t.version = v.expected RETURNING 1) "
        "SELECT 1 / (CASE WHEN count(*) = :n THEN 1 ELSE 0 END) FROM changed"
    )


def _pg_type(kind: Any) -> str:
    if isinstance(kind, TypeDecorator):
        kind = kind.impl
    if isinstance(kind, DateTime):
        return "timestamptz"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, String | Text):
        return "text"
    if isinstance(kind, JSON):
        return "jsonb"
    raise TypeError(f"no recordset type for {kind!r}")


def _append_sql() -> str:
    names = ", ".join(EVENT_COLUMNS)
    record = ", ".join(
        "jsonb" if name == "data" else _pg_type(events.c[name].type) for name in EVENT_COLUMNS
    )
    typed = ", ".join(
        f"{name} {kind}" for name, kind in zip(EVENT_COLUMNS, record.split(", "), strict=True)
    )
    return (
        f"INSERT INTO events ({names}, tx_id) "
        f"SELECT {', '.join(f'v.{name}' for name in EVENT_COLUMNS)}, "
        "pg_current_xact_id()::text::bigint "
        f"FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb)) AS ({typed})) "
        f"WITH ORDINALITY AS v({names}, n) ORDER BY v.n"
    )


# instants travel as ISO 8601 text with their offset (orjson's default for aware datetimes)
_APPEND = prepared(_append_sql())
