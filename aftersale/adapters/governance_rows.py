"""The SQL repositories of governance.md's aggregates: tickets, punishments and shops.

Their deadlines are columns of their own rows, as a case's are of its row, and the sweep
claims them as it claims cases: oldest first, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (several
daemons share the work), one writer at a time on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, select, update

from aftersale.adapters.mapping import PUNISHMENTS, SHOPS, TICKETS
from aftersale.adapters.prepared import Prepared
from aftersale.adapters.rows import KEYS_AT_ONCE, by_keys, keyed
from aftersale.adapters.schema import orders, punishments, shops, tickets
from aftersale.domain.tickets.model import Punishment, Shop, Ticket

if TYPE_CHECKING:  # the unit of work builds its repositories: a cycle at run time
    from aftersale.adapters.unit_of_work import SqlUnitOfWork

ERROR_LENGTH = 2000

TICKETS_OF_SHOP = Prepared(
    select(tickets)
    .where(tickets.c.shop_id == bindparam("shop"), tickets.c.issued_at >= bindparam("since"))
    .order_by(tickets.c.issued_at, tickets.c.ticket_id)
)
PUNISHMENTS_OF_SHOP = Prepared(
    select(punishments)
    .where(punishments.c.shop_id == bindparam("shop"))
    .order_by(punishments.c.started_at, punishments.c.punishment_id)
)
FIRST_ORDER = Prepared(
    select(orders.c.market, orders.c.paid_at)
    .where(orders.c.shop_id == bindparam("shop"))
    .order_by(orders.c.paid_at, orders.c.order_id)
    .limit(1)
)
# A shop's row is read held on PostgreSQL: every change of its points writes it, so writers on
# one shop queue for it instead of racing and running again (a breach rule's snapshot, whose
# unit of work a lost race would cost, and a platform's ticket at the same moment)
SHOP_HELD = Prepared(select(shops).where(shops.c.shop_id == bindparam("k")).with_for_update())
# whether a claim could find anything (asked before every sweep: compiled once)
ANY_TICKET_DUE = Prepared(
    select(tickets.c.ticket_id)
    .where(tickets.c.deadline_at <= bindparam("until"), tickets.c.quarantined_at.is_(None))
    .limit(1)
)
ANY_PUNISHMENT_DUE = Prepared(
    select(punishments.c.punishment_id)
    .where(
        punishments.c.ended_at.is_(None),
        punishments.c.ends_at <= bindparam("until"),
        punishments.c.quarantined_at.is_(None),
    )
    .limit(1)
)


@cache
def claim_tickets(postgres: bool) -> Prepared:
    query = (
        select(tickets)
        .where(tickets.c.deadline_at <= bindparam("until"), tickets.c.quarantined_at.is_(None))
        .order_by(tickets.c.deadline_at, tickets.c.ticket_id)
        .limit(bindparam("n"))
    )
    return Prepared(query.with_for_update(skip_locked=True) if postgres else query)


@cache
def claim_punishments(postgres: bool) -> Prepared:
    query = (
        select(punishments)
        .where(
            punishments.c.ended_at.is_(None),
            punishments.c.ends_at <= bindparam("until"),
            punishments.c.quarantined_at.is_(None),
        )
        .order_by(punishments.c.ends_at, punishments.c.punishment_id)
        .limit(bindparam("n"))
    )
    return Prepared(query.with_for_update(skip_locked=True) if postgres else query)


@cache
def quarantine_statement(table: Table, key: str) -> Prepared:
    return Prepared(
        update(table)
        .where(table.c[key] == bindparam("k"))
        .values(quarantined_at=bindparam("at"), quarantine_error=bindparam("error"))
    )


@cache
def quarantined_statement(table: Table, key: str) -> Prepared:
    return Prepared(select(table.c.quarantined_at).where(table.c[key] == bindparam("k")))


def _quarantined(uow: SqlUnitOfWork, table: Table, key: str, value: str) -> bool | None:
    found = quarantined_statement(table, key).rows(uow.link, {"k": value})
    return None if not found else found[0].quarantined_at is not None


class SqlTickets:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def get(self, ticket_id: str) -> Ticket | None:
        return self._uow.get(TICKETS, ticket_id)  # type: ignore[no-any-return]

    def add(self, ticket: Ticket) -> None:
        self._uow.add(TICKETS, ticket)

    def of_shop(self, shop_id: str, issued_from: datetime) -> list[Ticket]:
        rows = TICKETS_OF_SHOP.rows(self._uow.link, {"shop": shop_id, "since": issued_from})
        found = [self._uow.track(TICKETS, row) for row in rows]
        return _with_added(self._uow, Ticket, found, shop_id, issued_from)

    def claim_due(self, until: datetime, limit: int) -> list[Ticket]:
        rows = claim_tickets(not self._uow.sqlite).rows(
            self._uow.link, {"until": until, "n": limit}
        )
        return self._uow.claimed(TICKETS, rows)

    def quarantine(self, ticket: Ticket, at: datetime, error: str) -> None:
        self._uow.forget(ticket)
        self._uow.stage_mark(tickets, "ticket_id", ticket.ticket_id, at, error[:ERROR_LENGTH])

    def quarantined(self, ticket_id: str) -> bool | None:
        return _quarantined(self._uow, tickets, "ticket_id", ticket_id)

    def release(self, ticket_id: str) -> None:
        self._uow.stage_mark(tickets, "ticket_id", ticket_id, None, None)


class SqlPunishments:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def add(self, punishment: Punishment) -> None:
        self._uow.add(PUNISHMENTS, punishment)

    def of_shop(self, shop_id: str) -> list[Punishment]:
        rows = PUNISHMENTS_OF_SHOP.rows(self._uow.link, {"shop": shop_id})
        found = [self._uow.track(PUNISHMENTS, row) for row in rows]
        return _with_added(self._uow, Punishment, found, shop_id, None)

    def claim_due(self, until: datetime, limit: int) -> list[Punishment]:
        rows = claim_punishments(not self._uow.sqlite).rows(
            self._uow.link, {"until": until, "n": limit}
        )
        return self._uow.claimed(PUNISHMENTS, rows)

    def quarantine(self, punishment: Punishment, at: datetime, error: str) -> None:
        self._uow.forget(punishment)
        key = punishment.punishment_id
        self._uow.stage_mark(punishments, "punishment_id", key, at, error[:ERROR_LENGTH])

    def quarantined(self, punishment_id: str) -> bool | None:
        return _quarantined(self._uow, punishments, "punishment_id", punishment_id)

    def release(self, punishment_id: str) -> None:
        self._uow.stage_mark(punishments, "punishment_id", punishment_id, None, None)


class SqlShops:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def get(self, shop_id: str) -> Shop | None:
        known: Shop | None = self._uow.seen(SHOPS, shop_id)
        if known is not None or self._uow.sqlite:  # SQLite: one writer holds the database
            return known or self._uow.get(SHOPS, shop_id)
        row = SHOP_HELD.first(self._uow.link, {"k": shop_id})
        return None if row is None else self._uow.track(SHOPS, row)

    def get_many(self, shop_ids: Sequence[str]) -> dict[str, Shop]:
        found: dict[str, Shop] = {}
        keys = sorted(set(shop_ids))
        for start in range(0, len(keys), KEYS_AT_ONCE):
            count, params = keyed(keys[start : start + KEYS_AT_ONCE])
            for row in by_keys(SHOPS.table, "shop_id", count).rows(self._uow.link, params):
                found[row.shop_id] = self._uow.track(SHOPS, row)
        return found

    def add(self, shop: Shop) -> None:
        self._uow.add(SHOPS, shop)

    def first_order(self, shop_id: str) -> tuple[str, datetime] | None:
        row = FIRST_ORDER.first(self._uow.link, {"shop": shop_id})
        return None if row is None else (row.market, row.paid_at)


def _with_added(
    uow: SqlUnitOfWork, kind: type, found: list[Any], shop_id: str, since: datetime | None
) -> list[Any]:
    """What was read, and what this unit of work added of the shop's and has not written yet
    (a ticket issued a moment ago in the same unit, as a SQL session would flush it)."""
    keys = {id(aggregate) for aggregate in found}
    extra = [
        aggregate
        for aggregate in uow.added_of(kind)
        if aggregate.shop_id == shop_id
        and id(aggregate) not in keys
        and (since is None or aggregate.issued_at >= since)
    ]
    return found + extra
