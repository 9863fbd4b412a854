"""The memory repositories of governance.md's aggregates: tickets, punishments and shops,
read and claimed as the SQL ones (aftersale.adapters.governance_rows) read and claim them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftersale.adapters.memory.repositories import ERROR_LENGTH, MemoryRepository
from aftersale.adapters.memory.tables import Database, Row, Table, utc
from aftersale.domain.tickets.model import Punishment, Shop, Ticket

if TYPE_CHECKING:
    from aftersale.adapters.memory.unit_of_work import MemoryUnitOfWork, Staged


class MemoryTickets(MemoryRepository[Ticket]):
    def __init__(self, uow: MemoryUnitOfWork, db: Database, staged: Staged) -> None:
        super().__init__(uow, db.tickets)
        self._db = db
        self._staged = staged

    def of_shop(self, shop_id: str, issued_from: datetime) -> list[Ticket]:
        with self._db.lock:
            rows = [
                row
                for row in self._table.rows.values()
                if row["shop_id"] == shop_id and row["issued_at"] >= issued_from
            ]
        found = [self._uow.track(self._table, row) for row in rows]
        found += [
            ticket
            for ticket in self._uow.added_of(Ticket)
            if ticket.shop_id == shop_id and ticket.issued_at >= issued_from
        ]
        return sorted(found, key=lambda ticket: (ticket.issued_at, ticket.ticket_id))

    def claim_due(self, until: datetime, limit: int) -> list[Ticket]:
        return _claim(self._uow, self._db, self._table, until, limit, "deadline_at")

    def quarantine(self, ticket: Ticket, at: datetime, error: str) -> None:
        self._uow.forget(ticket)
        self._staged.marks.append((self._table, ticket.ticket_id, _marks(at, error)))

    def quarantined(self, ticket_id: str) -> bool | None:
        return _quarantined(self._table, ticket_id)

    def release(self, ticket_id: str) -> None:
        self._staged.marks.append((self._table, ticket_id, dict.fromkeys(_MARKS)))


class MemoryPunishments(MemoryRepository[Punishment]):
    def __init__(self, uow: MemoryUnitOfWork, db: Database, staged: Staged) -> None:
        super().__init__(uow, db.punishments)
        self._db = db
        self._staged = staged

    def of_shop(self, shop_id: str) -> list[Punishment]:
        with self._db.lock:
            rows = [row for row in self._table.rows.values() if row["shop_id"] == shop_id]
        found = [self._uow.track(self._table, row) for row in rows]
        found += [p for p in self._uow.added_of(Punishment) if p.shop_id == shop_id]
        return sorted(found, key=lambda p: (p.started_at, p.punishment_id))

    def claim_due(self, until: datetime, limit: int) -> list[Punishment]:
        return _claim(self._uow, self._db, self._table, until, limit, "ends_at")

    def quarantine(self, punishment: Punishment, at: datetime, error: str) -> None:
        self._uow.forget(punishment)
        self._staged.marks.append((self._table, punishment.punishment_id, _marks(at, error)))

    def quarantined(self, punishment_id: str) -> bool | None:
        return _quarantined(self._table, punishment_id)

    def release(self, punishment_id: str) -> None:
        self._staged.marks.append((self._table, punishment_id, dict.fromkeys(_MARKS)))


class MemoryShops(MemoryRepository[Shop]):
    def __init__(self, uow: MemoryUnitOfWork, db: Database) -> None:
        super().__init__(uow, db.shops)
        self._db = db

    def get_many(self, shop_ids: Sequence[str]) -> dict[str, Shop]:
        found = {key: self.get(key) for key in sorted(set(shop_ids))}
        return {key: shop for key, shop in found.items() if shop is not None}

    def first_order(self, shop_id: str) -> tuple[str, datetime] | None:
        with self._db.lock:
            paid = [
                (row["paid_at"], row["order_id"], row["market"])
                for row in self._db.orders.rows.values()
                if row["shop_id"] == shop_id
            ]
        if not paid:
            return None
        paid_at, _, market = min(paid)
        return market, paid_at


def _claim(
    uow: MemoryUnitOfWork,
    db: Database,
    table: Table[Any],
    until: datetime,
    limit: int,
    deadline: str,
) -> list[Any]:
    """Due rows of ``table`` (a ticket's deadline; a running punishment's planned end)."""
    with db.lock:
        due = (
            row
            for row in table.rows.values()
            if row[deadline] is not None
            and row[deadline] <= until
            and row["quarantined_at"] is None
            and row.get("ended_at") is None
        )
        claimed = db.claim(due, limit, uow, table, deadline)
    return uow.claimed(table, claimed)


_MARKS = ("quarantined_at", "quarantine_error")


def _quarantined(table: Table[Any], key: str) -> bool | None:
    row = table.rows.get(key)
    return None if row is None else row["quarantined_at"] is not None


def _marks(at: datetime, error: str) -> Row:
    return {"quarantined_at": utc(at), "quarantine_error": error[:ERROR_LENGTH]}
