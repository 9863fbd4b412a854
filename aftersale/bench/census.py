"""What a baseline must leave behind: the same rows as our run, read with the bare driver.

A baseline that did less work would flatter us, so after each run both databases are read, in
two steps:

- **counted**: rows in every table, cases in every state, and per health measure the sums of
  ``counted`` and ``hits`` in ``health_hours`` (what every health report adds up);
- **their content**, compared once the counts agree (rows that are missing differ everywhere):
  the refund ledger in words (the sums of the lines' ``refunded_amount`` and
  ``returned_quantity``, the lines still held by an open case, the orders' refunded totals and
  shipping refunded, the refunds' totals on cases and in events), and a digest of every column
  of every table, its rows sorted by their values, so a baseline that left a column as it was
  (a line's ledger, a case's refund, an event's data) is named by the column it forgot. What
  only a run's instant or its database decides is left out: an event's ``seq``, ``event_id``,
  ``recorded_at`` and ``tx_id``, and when the health rollups were built.

Any difference fails the figure.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from aftersale.bench.databases import bare

Census = dict[str, int | str]
# what the database or the instant of the run decides, not the work
VOLATILE = {
    "events": frozenset({"seq", "event_id", "recorded_at", "tx_id"}),
    "health_rollups": frozenset({"built_at"}),  # when each database was first connected
}


def check_same_rows(ours: str, theirs: str, baseline: str) -> None:
    """Raise when the database at ``theirs`` does not hold what ours holds (see the module)."""
    found = [census(ours), census(theirs)]
    differ = _differences(*(_counts(each) for each in found)) or _differences(*found)
    if differ:
        raise RuntimeError(f"{baseline} did not do the same work: {'; '.join(differ)}")


def census(url: str) -> Census:
    """The counts and the content of the database at ``url`` (see the module)."""
    db = bare(url)
    try:
        sqlite = isinstance(db, sqlite3.Connection)
        found = _counted(db, sqlite)
        found |= _content(db, sqlite, [key for key in found if " " not in key])
        return found
    finally:
        db.close()


def _differences(ours: Census, theirs: Census) -> list[str]:
    return sorted(
        f"{key}: {theirs.get(key)}, ours {ours.get(key)}"
        for key in ours.keys() | theirs.keys()
        if ours.get(key) != theirs.get(key)
    )


def _counts(found: Census) -> Census:
    return {key: value for key, value in found.items() if not key.startswith(CONTENT)}


CONTENT = ("ledger ", "digest ")


def _counted(db: Any, sqlite: bool) -> Census:
    tables = (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        if sqlite
        else "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    )
    found: Census = {}
    for (table,) in db.execute(tables).fetchall():
        found[table] = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    if "cases" in found:
        by_state = "SELECT state, count(*) FROM cases GROUP BY state"
        found |= {f"cases {state}": n for state, n in db.execute(by_state).fetchall()}
    if "health_hours" in found:
        sums = "SELECT measure, sum(counted), sum(hits) FROM health_hours GROUP BY measure"
        for measure, counted, hits in db.execute(sums).fetchall():
            found[f"health_hours {measure} counted"] = int(counted)
            found[f"health_hours {measure} hits"] = int(hits)
    if not sqlite:
        db.rollback()
    return found


def _content(db: Any, sqlite: bool, tables: Sequence[str]) -> Census:
    found: Census = {}
    for table in sorted(tables):
        cursor = db.execute(f'SELECT * FROM "{table}"')
        names = [column[0] for column in cursor.description]
        json = _json_columns(db, table) if sqlite else frozenset()
        rows = [
            [_canonical(value, name in json) for name, value in zip(names, row, strict=True)]
            for row in cursor.fetchall()
        ]
        kept = [i for i, name in enumerate(names) if name not in VOLATILE.get(table, ())]
        rows = sorted([row[i] for i in kept] for row in rows)
        for position, i in enumerate(kept):
            found[f"digest {table}.{names[i]}"] = _digest(row[position] for row in rows)
        if table == "orders":
            found |= _orders_ledger(names, rows, kept)
        elif table in ("cases", "events"):
            found |= _refunds(table, names, rows, kept)
    if not sqlite:
        db.rollback()
    return found


def _json_columns(db: sqlite3.Connection, table: str) -> frozenset[str]:
    """The JSON columns of a SQLite table (text there, to be compared as what it encodes)."""
    info = db.execute(f'PRAGMA table_info("{table}")').fetchall()
    return frozenset(name for _, name, kind, *_ in info if str(kind).upper() == "JSON")


def _canonical(value: Any, json_text: bool) -> Any:
    """A value as both backends give it: JSON decoded (keys sorted when written back),
    instants as ISO text, money as the text it is stored as."""
    if json_text and isinstance(value, str):
        value = orjson.loads(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None:
        return ""  # sorts with the text around it; None beside text would not sort
    return str(value)


def _digest(values: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for value in values:
        digest.update(value.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def _column(names: Sequence[str], kept: Sequence[int], name: str) -> int:
    return [names[i] for i in kept].index(name)


def _orders_ledger(names: Sequence[str], rows: Sequence[list[str]], kept: Sequence[int]) -> Census:
    """The orders' refund ledger in words: what a baseline that skipped the lines would miss."""
    lines = _column(names, kept, "lines")
    total = _column(names, kept, "refunded_total")
    shipping = _column(names, kept, "shipping_refunded")
    refunded, returned, held = Decimal(0), 0, 0
    for row in rows:
        for line in orjson.loads(row[lines] or "[]"):
            refunded += Decimal(line["refunded_amount"])
            returned += int(line["returned_quantity"])
            held += line["open_case_id"] is not None
    return {
        "ledger orders lines refunded_amount": str(refunded),
        "ledger orders lines returned_quantity": returned,
        "ledger orders lines held by an open case": held,
        "ledger orders refunded_total": str(sum((Decimal(r[total]) for r in rows), Decimal(0))),
        "ledger orders shipping_refunded": str(
            sum((Decimal(r[shipping] or 0) for r in rows), Decimal(0))
        ),
    }


def _refunds(
    table: str, names: Sequence[str], rows: Sequence[list[str]], kept: Sequence[int]
) -> Census:
    """How many refunds the cases (or the events) record, and their total."""
    column = _column(names, kept, "refund" if table == "cases" else "data")
    refunds = [orjson.loads(row[column]) for row in rows if row[column]]
    if table == "events":
        refunds = [data.get("refund") for data in refunds if isinstance(data, dict)]
    refunds = [refund for refund in refunds if refund]
    return {
        f"ledger {table} refunds": len(refunds),
        f"ledger {table} refunds total": str(
            sum((Decimal(refund["total"]) for refund in refunds), Decimal(0))
        ),
    }
