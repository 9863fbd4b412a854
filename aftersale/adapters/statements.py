"""The statements a unit of work runs besides its aggregates' own (aftersale.adapters.mapping),
compiled once and run on the driver (aftersale.adapters.prepared)."""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from aftersale.adapters.prepared import Prepared
from aftersale.adapters.rows import insert_statement
from aftersale.adapters.schema import cases, policies, snapshots

QUARANTINE = Prepared(
    update(cases)
    .where(cases.c.case_id == bindparam("k"))
    .values(quarantined_at=bindparam("at"), quarantine_error=bindparam("error"))
)
ANY_DUE = Prepared(
    select(cases.c.case_id)
    .where(cases.c.deadline_at <= bindparam("until"), cases.c.quarantined_at.is_(None))
    .limit(1)
)
LAST_CASE_CHANGE = Prepared(
    select(cases.c.updated_at)
    .where(cases.c.order_id == bindparam("k"))
    .order_by(cases.c.updated_at.desc())
    .limit(1)
)
MARK_REMINDED = Prepared(
    update(cases)
    .where(cases.c.case_id == bindparam("k"))
    .values(reminded_for=bindparam("deadline"))
)
POLICY_COLUMNS = ("version", "document", "created_at")
POLICY = Prepared(select(policies.c.document).where(policies.c.version == bindparam("k")))
POLICY_VERSIONS = Prepared(select(policies.c.version))
# A policy version is stored once: two units of work storing a new one at once both succeed.
ADD_POLICY = {
    "sqlite": Prepared(sqlite_insert(policies).on_conflict_do_nothing(), POLICY_COLUMNS),
    "postgresql": Prepared(postgres_insert(policies).on_conflict_do_nothing(), POLICY_COLUMNS),
}
SNAPSHOT_COLUMNS = ("shop_id", "taken_at", "score", "tier", "alert_open", "report")
ADD_SNAPSHOT = insert_statement(snapshots, SNAPSHOT_COLUMNS)
DELETE_SNAPSHOTS = Prepared(
    delete(snapshots).where(
        snapshots.c.shop_id == bindparam("shop"),
        snapshots.c.taken_at >= bindparam("start"),
        snapshots.c.taken_at <= bindparam("end"),
    )
)
LAST_SNAPSHOTS = Prepared(
    select(snapshots.c.taken_at, snapshots.c.score, snapshots.c.alert_open)
    .where(snapshots.c.shop_id == bindparam("shop"), snapshots.c.taken_at < bindparam("before"))
    .order_by(snapshots.c.taken_at.desc())
    .limit(bindparam("n"))
)
QUARANTINED = Prepared(
    select(cases.c.case_id).where(
        cases.c.case_id == bindparam("k"), cases.c.quarantined_at.is_not(None)
    )
)
RELEASE = Prepared(
    update(cases)
    .where(cases.c.case_id == bindparam("k"))
    .values(quarantined_at=None, quarantine_error=None)
)


@cache
def reminders_statement(states: tuple[str, ...], postgres: bool) -> Prepared:
    """Cases in ``states`` whose deadline falls in (now, until] and was not yet reminded."""
    query = (
        select(cases)
        .where(
            cases.c.deadline_at > bindparam("now"),
            cases.c.deadline_at <= bindparam("until"),
            or_(*(cases.c.state == state for state in states)),
            cases.c.quarantined_at.is_(None),
            or_(cases.c.reminded_for.is_(None), cases.c.reminded_for != cases.c.deadline_at),
        )
        .order_by(cases.c.deadline_at, cases.c.case_id)
        .limit(bindparam("n"))
    )
    return Prepared(query.with_for_update(skip_locked=True) if postgres else query)
