"""The repositories of a memory unit of work: reads of the tables, writes staged in the unit.

A ``get`` hands out the unit's own object for a row (loaded once, tracked for the commit's
compare-and-set); everything else a repository is asked to write (a policy, a snapshot, a
quarantine, a reminder, a release) is staged and applied by the commit, never before.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic

import orjson

from aftersale.adapters.memory.tables import A, Database, Table, utc
from aftersale.domain.model import Case, Order

if TYPE_CHECKING:  # the unit of work builds its repositories: a cycle at run time
    from aftersale.adapters.memory.unit_of_work import MemoryUnitOfWork, Staged

ERROR_LENGTH = 2000  # of a quarantine error, as the SQL store keeps it


class MemoryRepository(Generic[A]):
    def __init__(self, uow: MemoryUnitOfWork, table: Table[A]) -> None:
        self._uow = uow
        self._table: Table[A] = table

    def get(self, key: str) -> A | None:
        known = self._uow.known(self._table, key)
        if known is not None:
            return known
        row = self._table.rows.get(key)
        return None if row is None else self._uow.track(self._table, row)

    def add(self, aggregate: A) -> None:
        self._uow.add(self._table, aggregate)


class MemoryOrders(MemoryRepository[Order]):
    def get_many(self, order_ids: Sequence[str]) -> dict[str, Order]:
        found = {key: self.get(key) for key in sorted(set(order_ids))}
        return {key: order for key, order in found.items() if order is not None}


class MemoryCases(MemoryRepository[Case]):
    def __init__(self, uow: MemoryUnitOfWork, db: Database, staged: Staged) -> None:
        super().__init__(uow, db.cases)
        self._db = db
        self._staged = staged

    def last_change(self, order_id: str) -> datetime | None:
        with self._db.lock:
            cases = self._db.cases_of_order.get(order_id, [])
            changes = [self._table.rows[key]["updated_at"] for key in cases]
        return max(changes, default=None)

    def claim_due(self, until: datetime, limit: int) -> list[Case]:
        db = self._db
        with db.lock:
            due = (
                row
                for row in self._table.rows.values()
                if row["deadline_at"] is not None
                and row["deadline_at"] <= until
                and row["quarantined_at"] is None
            )
            claimed = db.claim(due, limit, self._uow)
        return self._uow.claimed(self._table, claimed)

    def claim_reminders(
        self, now: datetime, until: datetime, states: Collection[str], limit: int
    ) -> list[Case]:
        wanted = set(states)
        db = self._db
        with db.lock:
            due = (
                row
                for row in self._table.rows.values()
                if row["deadline_at"] is not None
                and now < row["deadline_at"] <= until
                and row["state"] in wanted
                and row["quarantined_at"] is None
                and row["reminded_for"] != row["deadline_at"]
            )
            claimed = db.claim(due, limit, self._uow)
        return [self._uow.track(self._table, row) for row in claimed]

    def reminded(self, case: Case) -> None:
        deadline = None if case.deadline_at is None else utc(case.deadline_at)
        self._staged.reminders.append((case.case_id, {"reminded_for": deadline}))

    def quarantine(self, case: Case, at: datetime, error: str) -> None:
        self._uow.forget(case)
        marks = {"quarantined_at": utc(at), "quarantine_error": error[:ERROR_LENGTH]}
        self._staged.quarantines.append((case.case_id, marks))

    def quarantined(self, case_id: str) -> bool:
        row = self._table.rows.get(case_id)
        return row is not None and row["quarantined_at"] is not None

    def release(self, case_id: str) -> None:
        marks = {"quarantined_at": None, "quarantine_error": None}
        self._staged.releases.append((case_id, marks))


class MemoryPolicies:
    def __init__(self, db: Database, staged: Staged) -> None:
        self._db = db
        self._staged = staged

    def get(self, version: str) -> dict[str, Any] | None:
        for row in self._staged.policies:  # as the SQL one reads what it staged
            if row["version"] == version:
                return dict(row["document"])
        stored = self._db.policies.get(version)
        return None if stored is None else dict(orjson.loads(stored["document"]))

    def add(self, version: str, document: dict[str, Any], at: datetime) -> None:
        row = {"version": version, "document": document, "created_at": utc(at)}
        self._staged.policies.append(row)

    def versions(self) -> set[str]:
        with self._db.lock:
            stored = set(self._db.policies)
        return stored | {row["version"] for row in self._staged.policies}


class MemorySnapshots:
    def __init__(self, db: Database, staged: Staged) -> None:
        self._db = db
        self._staged = staged

    def add(self, row: dict[str, Any]) -> None:
        self._staged.snapshots.append(dict(row))

    def before(self, shop_id: str, limit: int, before: datetime) -> list[dict[str, Any]]:
        """The stored ones (not those this unit adds), as the SQL one reads them."""
        db = self._db
        with db.lock:
            taken = db.snapshots.get(shop_id, {})
            newest = sorted((t for t in taken if t < before), reverse=True)[: max(limit, 0)]
            rows = [taken[t] for t in newest]
        return [{key: row[key] for key in ("taken_at", "score", "alert_open")} for row in rows]

    def delete(self, shop_id: str, start: datetime, end: datetime) -> None:
        self._staged.deleted_snapshots.append((shop_id, start, end))
