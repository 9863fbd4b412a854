"""The outbox: every committed event handed to a relay once, in an order no commit can pass.

``seq`` is taken when an event is inserted, but its transaction commits later: on PostgreSQL,
with several writers, an event with a lower ``seq`` can become visible after a relay has read a
higher one. A cursor on ``seq`` alone skips it for ever. So on PostgreSQL each event records the
id of the transaction that wrote it (``pg_current_xact_id()``), and a read hands out only events
of transactions older than the oldest one still running in this database (by the reading
statement's own snapshot), in (transaction id, seq) order. Every transaction below that
horizon has ended, so every event below it that will ever be visible already is, and any event
committed later belongs to a transaction at or above it: the cursor never passes an event that
is still to come, and never hands one out twice. No lock is taken; writers never wait for a
relay. The price is latency: an event waits until every transaction older than its own has
ended (a long transaction anywhere on the server holds the horizon back). So that a read
returns every event committed before it (what a replay, a test or a relay catching up
expects), a read that comes back short while committed events wait behind the horizon waits
for the transactions holding it, up to a bound, and reads again (:func:`held_back`).

On SQLite one writer at a time holds the database from its first write to its commit, so
``seq`` order is commit order and the cursor is the ``seq``.

The cursor a host keeps is a token, ``"<transaction id>.<seq>"`` (``0`` on SQLite, and for the
events written before the outbox recorded transactions): opaque to hosts, who keep the
``cursor`` of the last event they relayed and pass it back. It is read and written in
:mod:`aftersale.adapters.cursor`, which every backend shares (the memory one has no SQL).
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, bindparam, insert, literal_column, select, tuple_, update
from sqlalchemy.sql.elements import ColumnClause

from aftersale.adapters.prepared import Prepared
from aftersale.adapters.rows import EVENT_COLUMNS
from aftersale.adapters.schema import events

# The writing transaction's id, as a bigint (xid8 counts from 0 and never wraps around).
CURRENT_TRANSACTION: ColumnClause[int] = literal_column("pg_current_xact_id()::text::bigint")
# The horizon: the oldest transaction running in the reading statement's snapshot, leaving out
# those a backend of another database runs (a transaction never changes database, and never
# writes this one's events), so another application's long transaction on the same server
# holds nothing back. pg_stat_activity shows 32-bit xids; the snapshot's running ones span far
# less than 2**32, so the low 32 bits name them. A transaction it cannot place (another user's
# session without pg_read_all_stats, a prepared transaction) is kept: late, never lost.
OLDEST_RUNNING: ColumnClause[int] = literal_column(
    """coalesce(
    (SELECT min(running::text::bigint)
       FROM pg_snapshot_xip(pg_current_snapshot()) AS running
      WHERE running::text::bigint % 4294967296 NOT IN (
            SELECT backend_xid::text::bigint FROM pg_stat_activity
             WHERE backend_xid IS NOT NULL
               AND datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
    pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"""
)

APPEND = {
    "sqlite": Prepared(insert(events).inline(), EVENT_COLUMNS),
    "postgresql": Prepared(
        insert(events).inline().values(tx_id=CURRENT_TRANSACTION), EVENT_COLUMNS
    ),
}
AFTER = {  # the SQLite statement is also the plain seq-order read of the log on PostgreSQL
    "sqlite": Prepared(
        select(events)
        .where(events.c.seq > bindparam("s"))
        .order_by(events.c.seq)
        .limit(bindparam("n"))
    ),
    "postgresql": Prepared(
        select(events)
        .where(
            events.c.tx_id.is_not(None),
            tuple_(events.c.tx_id, events.c.seq) > tuple_(bindparam("x"), bindparam("s")),
            events.c.tx_id < OLDEST_RUNNING,
        )
        .order_by(events.c.tx_id, events.c.seq)
        .limit(bindparam("n"))
    ),
}


# The newest transaction that wrote an event visible now: the end of the outbox index, one
# step whatever the table's size.
NEWEST = (
    select(events.c.tx_id)
    .where(events.c.tx_id.is_not(None))
    .order_by(events.c.tx_id.desc())
    .limit(1)
    .scalar_subquery()
)
# It and the horizon; then the horizon alone, while waiting.
NEWEST_AND_HORIZON = Prepared(select(NEWEST.label("newest"), OLDEST_RUNNING.label("horizon")))
HORIZON = Prepared(select(OLDEST_RUNNING.label("horizon")))


def held_back(on: Connection, wait: float) -> bool:
    """On PostgreSQL: whether committed events were waiting behind the horizon, after waiting
    up to ``wait`` seconds for the transactions holding it to end (then a read again finds
    them). Transactions are short, so the wait is a few milliseconds; a transaction left
    open holds the outbox back for as long as it stays open, and the read returns without it.
    """
    newest, horizon = NEWEST_AND_HORIZON.first(on)
    if newest is None or newest < horizon:
        return False
    waited, pause = 0.0, 0.001
    while waited < wait:  # counted, not timed: a frozen clock (freezegun) cannot hang it
        time.sleep(pause)
        waited, pause = waited + pause, min(pause * 2, 0.05)
        if HORIZON.first(on).horizon > newest:
            break
    return True


# Transaction ids count per server. Restored into another server (pg_dump, a managed
# database's move), the events carry ids of the old one, ahead of the new one's counter: new
# events would sort before them and stay behind every relay's cursor.
FROM_ANOTHER_SERVER = Prepared(
    select(
        (literal_column("pg_snapshot_xmax(pg_current_snapshot())::text::bigint") <= NEWEST).label(
            "ahead"
        )
    )
)
RENUMBER = Prepared(update(events).where(events.c.tx_id.is_not(None)).values(tx_id=0))


def from_another_server(on: Connection) -> bool:
    """Whether the events' transaction ids are ahead of this server's (PostgreSQL)."""
    return bool(FROM_ANOTHER_SERVER.first(on).ahead)


def renumber(on: Connection) -> int:
    """Give every event transaction id 0, as for the events written before the outbox kept
    them: all are committed, and every later event sorts after them. How many were moved."""
    return RENUMBER.run(on)
