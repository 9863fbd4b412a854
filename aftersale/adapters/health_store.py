"""The health store on SQLAlchemy: shops and their events, the rollups (read, adopted,
rebuilt, pruned) and the daily snapshots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from aftersale.adapters.db import translate_errors
from aftersale.adapters.reading import Reader
from aftersale.adapters.rollups import Rollups
from aftersale.adapters.rows import as_utc, event_dict
from aftersale.adapters.schema import events, orders, snapshots
from aftersale.domain.health.items import Count
from aftersale.errors import Conflict


class SqlHealth(Reader):
    def __init__(self, engine: Engine, rollups: Rollups | None) -> None:
        super().__init__(engine)
        self.rollups = rollups

    def shop_markets(self) -> dict[str, tuple[str, datetime]]:
        """Each shop's market (that of its first order) and when it was first paid."""
        first = (
            select(orders.c.shop_id, func.min(orders.c.paid_at).label("first"))
            .group_by(orders.c.shop_id)
            .subquery()
        )
        query = select(orders.c.shop_id, orders.c.market, orders.c.paid_at).join(
            first, (orders.c.shop_id == first.c.shop_id) & (orders.c.paid_at == first.c.first)
        )
        with self._reading() as connection:
            return {row.shop_id: (row.market, row.paid_at) for row in connection.execute(query)}

    def last_seq(self) -> int:
        with self._reading() as connection:
            return int(connection.execute(select(func.max(events.c.seq))).scalar() or 0)

    def orders_paid_after(self, cursor: int) -> list[tuple[str, str, datetime, int]]:
        """(shop, market, paid_at, seq) of every order paid after event ``cursor``, in order."""
        query = (
            select(events.c.shop_id, events.c.at, events.c.data, events.c.seq)
            .where(events.c.seq > cursor, events.c.type == "order.paid")
            .order_by(events.c.seq)
        )
        with self._reading() as connection:
            return [
                (row.shop_id, row.data["market"], row.at, row.seq)
                for row in connection.execute(query)
            ]

    def snapshots(self, shop_id: str, limit: int) -> list[dict[str, Any]]:
        """The shop's latest snapshots, newest first."""
        query = (
            select(snapshots)
            .where(snapshots.c.shop_id == shop_id)
            .order_by(snapshots.c.taken_at.desc())
            .limit(limit)
        )
        with self._reading() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def latest_snapshot_per_shop(self) -> dict[str, datetime]:
        """Each shop's latest daily snapshot, by shop id: is the nightly job keeping up?"""
        latest = func.max(snapshots.c.taken_at)
        query = select(snapshots.c.shop_id, latest).group_by(snapshots.c.shop_id)
        with self._reading() as connection:
            rows = connection.execute(query.order_by(snapshots.c.shop_id)).all()
        return {shop_id: as_utc(taken_at) for shop_id, taken_at in rows}

    def has_shop(self, shop_id: str) -> bool:
        query = select(events.c.seq).where(events.c.shop_id == shop_id).limit(1)
        with self._reading() as connection:
            return connection.execute(query).first() is not None

    def shop_events(self, shop_id: str) -> list[dict[str, Any]]:
        """Every event of one shop, oldest first (the health score's input)."""
        query = select(events).where(events.c.shop_id == shop_id).order_by(events.c.seq)
        with self._reading() as connection:
            return [event_dict(row) for row in connection.execute(query)]

    def counts(self, shop_id: str, as_of: datetime) -> dict[str, Count] | None:
        """The shop's health counts from the rollups; None when the event log must be folded."""
        if self.rollups is None:
            return None
        with self._reading() as connection:
            if connection.dialect.name == "postgresql":  # one snapshot for all the queries
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                return self.rollups.counts(connection, shop_id, as_of)

    def adopt_rollups(self, now: datetime) -> bool:
        """Mark the empty rollups of a database with no events as current; whether the
        rollups are current afterwards (if not, ``aftersale health rebuild`` builds them)."""
        if self.rollups is None:
            return False
        try:
            with translate_errors(self.engine), self.engine.begin() as connection:
                self.rollups.adopt(connection, now)
        except Conflict:  # another process adopted them at the same moment
            pass
        with self._reading() as connection:
            return self.rollups.current(connection)

    def rebuild(self, now: datetime, on_events: Callable[[int], None]) -> int:
        """Recompute the health rollups from the event log; how many subjects they hold."""
        if self.rollups is None:
            return 0
        with translate_errors(self.engine), self.engine.begin() as connection:
            return self.rollups.rebuild(connection, now, on_events)

    def prune(
        self,
        before: datetime,
        should_stop: Callable[[], bool] = lambda: False,
        pairs_at_once: int = 200,
    ) -> tuple[int, int] | None:
        """Delete the health rollups' items and hours before ``before``, a few hundred (shop,
        measure) pairs a transaction so writers never wait long; (items, hours) deleted, or
        None when the rollups are not current (reports fold the log until they are rebuilt).

        The rollups say first that they start at ``before``, in a transaction of its own: from
        its commit no report trusts them further back, so none reads a half-pruned hour.
        """
        if self.rollups is None:
            return None
        with translate_errors(self.engine), self.engine.begin() as connection:
            if not self.rollups.start_pruning(connection, before):
                return None
        items = hours = 0
        while not should_stop():  # asked between transactions: the next prune goes on
            with translate_errors(self.engine), self.engine.begin() as connection:
                some_items, some_hours = self.rollups.prune_some(connection, before, pairs_at_once)
            if not some_hours:  # every pair with old items had old hours to delete
                return items, hours
            items, hours = items + some_items, hours + some_hours
        return items, hours
