"""What a baseline must leave behind: the same rows as our run, counted with the bare driver.

A baseline that did less work would flatter us, so after each run both databases are counted:
rows in every table, cases in every state, and per health measure the sums of ``counted`` and
``hits`` in ``health_hours`` (what every health report adds up). Any difference fails the figure.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from aftersale.bench.databases import bare

Census = dict[str, int]


def check_same_rows(ours: str, theirs: str, baseline: str) -> None:
    """Raise when the database at ``theirs`` does not hold what ours holds (see the module)."""
    found = [census(ours), census(theirs)]
    if found[0] != found[1]:
        differ = sorted(
            f"{key}: {found[1].get(key)}, ours {found[0].get(key)}"
            for key in found[0].keys() | found[1].keys()
            if found[0].get(key) != found[1].get(key)
        )
        raise RuntimeError(f"{baseline} did not do the same work: {'; '.join(differ)}")


def census(url: str) -> Census:
    db = bare(url)
    try:
        return _counted(db, isinstance(db, sqlite3.Connection))
    finally:
        db.close()


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
