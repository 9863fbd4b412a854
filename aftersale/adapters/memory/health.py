"""The health score's inputs in memory. There are no rollups: ``counts`` is always None, so
every report folds the shop's events (what the SQL store does before its rollups are built),
and rebuilding or pruning rollups has nothing to do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from aftersale.adapters.memory.tables import Database, Row, event_view
from aftersale.domain.events import ORDER_PAID
from aftersale.domain.health.items import Count


def _snapshot_view(row: Row) -> dict[str, Any]:
    return {**row, "report": orjson.loads(row["report"])}


class MemoryHealth:
    def __init__(self, db: Database) -> None:
        self._db = db

    def has_shop(self, shop_id: str) -> bool:
        return shop_id in self._db.events_of_shop

    def shop_events(self, shop_id: str) -> list[dict[str, Any]]:
        with self._db.lock:
            rows = list(self._db.events_of_shop.get(shop_id, []))
        return [event_view(row) for row in rows]

    def shop_markets(self) -> dict[str, tuple[str, datetime]]:
        """Each shop's market (that of its first order) and when it was first paid."""
        first: dict[str, tuple[datetime, str, str]] = {}
        with self._db.lock:
            for row in self._db.orders.rows.values():
                mine = (row["paid_at"], row["order_id"], row["market"])
                first[row["shop_id"]] = min(first.get(row["shop_id"], mine), mine)
        return {shop_id: (market, paid_at) for shop_id, (paid_at, _, market) in first.items()}

    def last_seq(self) -> int:
        return len(self._db.events)

    def orders_paid_after(self, cursor: int) -> list[tuple[str, str, datetime, int]]:
        """(shop, market, paid_at, seq) of every order paid after event ``cursor``, in order."""
        with self._db.lock:
            rows = self._db.events[max(cursor, 0) :]
        return [
            (row["shop_id"], orjson.loads(row["data"])["market"], row["at"], row["seq"])
            for row in rows
            if row["type"] == ORDER_PAID
        ]

    def counts(self, shop_id: str, as_of: datetime) -> dict[str, Count] | None:
        return None

    def adopt_rollups(self, now: datetime) -> bool:
        return False

    def rebuild(self, now: datetime, on_events: Callable[[int], None]) -> int:
        return 0

    def prune(self, before: datetime, should_stop: Callable[[], bool]) -> tuple[int, int] | None:
        return None

    def snapshots(self, shop_id: str, limit: int) -> list[dict[str, Any]]:
        """The shop's latest snapshots, newest first."""
        with self._db.lock:
            taken = self._db.snapshots.get(shop_id, {})
            rows = [taken[t] for t in sorted(taken, reverse=True)[: max(limit, 0)]]
        return [_snapshot_view(row) for row in rows]

    def latest_snapshot_per_shop(self) -> dict[str, datetime]:
        """Each shop's latest daily snapshot, by shop id: is the nightly job keeping up?"""
        with self._db.lock:
            return {
                shop_id: max(taken)
                for shop_id, taken in sorted(self._db.snapshots.items())
                if taken
            }
