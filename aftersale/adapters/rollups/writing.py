"""Writing the health rollups, inside the transaction that appends the events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, String, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from aftersale.adapters import set_based
from aftersale.adapters.prepared import Link, Prepared
from aftersale.adapters.rows import insert_statement
from aftersale.adapters.schema import health_hours, health_items, health_subjects
from aftersale.clock import hour_of
from aftersale.domain.events import Event
from aftersale.domain.health.facts import ShopRecord
from aftersale.domain.health.items import Item

ItemKey = tuple[str, str]  # measure, item id
HourKey = tuple[str, str, datetime]  # shop, measure, UTC hour


@dataclass
class Subject:
    shop_id: str
    record: ShopRecord
    stored: bool


class Changes:
    """What a batch of events did to the items and the hourly sums."""

    def __init__(self) -> None:
        self.removed: list[dict[str, Any]] = []
        self.added: list[dict[str, Any]] = []
        self.hours: dict[HourKey, list[int]] = defaultdict(lambda: [0, 0])

    def diff(
        self, shop_id: str, before: Mapping[ItemKey, Item], after: Mapping[ItemKey, Item]
    ) -> None:
        for key, item in before.items():
            if after.get(key) != item:
                self.removed.append({"s": shop_id, "m": key[0], "i": key[1]})
                self._hour_delta(shop_id, key[0], item, -1)
        for key, item in after.items():
            if before.get(key) != item:
                self.added.append(item_row(shop_id, key[0], key[1], item))
                self._hour_delta(shop_id, key[0], item, 1)

    def _hour_delta(self, shop_id: str, measure: str, item: Item, sign: int) -> None:
        bucket = self.hours[(shop_id, measure, hour_of(item.at))]
        bucket[0] += sign
        bucket[1] += sign * item.hit

    def write(self, connection: Link | Connection) -> None:
        changed = [
            {"shop_id": s, "measure": m, "hour": d, "counted": c, "hits": h}
            for (s, m, d), (c, h) in sorted(self.hours.items())  # one lock order for every writer
            if c or h
        ]
        if isinstance(connection, Link) and connection.dialect.name == "postgresql":
            set_based.run(connection, DELETE_ITEMS_AT_ONCE, self.removed)
            set_based.run(connection, INSERT_ITEMS_AT_ONCE, self.added)
            set_based.run(connection, ADD_TO_HOURS_AT_ONCE, changed)
            return
        DELETE_ITEM.run_many(connection, self.removed)
        INSERT_ITEM.run_many(connection, self.added)
        add_to_hours(connection.dialect.name).run_many(connection, changed)


def as_mapping(event: Event) -> dict[str, Any]:
    return {
        "type": event.type,
        "order_id": event.order_id,
        "case_id": event.case_id,
        **(event.data or {}),
    }


def item_row(shop_id: str, measure: str, item_id: str, item: Item) -> dict[str, Any]:
    return {
        "shop_id": shop_id,
        "measure": measure,
        "item_id": item_id,
        "at": item.at,
        "hit": item.hit,
        "pending": item.pending,
        "example": item.example,
    }


# Built once and run on the driver (aftersale.adapters.prepared): the rollups are written
# with every command.
INSERT_SUBJECT = insert_statement(health_subjects, ("subject_id", "shop_id", "record"))
UPDATE_SUBJECT = Prepared(
    health_subjects.update()
    .where(health_subjects.c.subject_id == bindparam("k"))
    .values(record=bindparam("record"))
)
INSERT_ITEM = insert_statement(
    health_items, ("shop_id", "measure", "item_id", "at", "hit", "pending", "example")
)
DELETE_ITEM = Prepared(
    delete(health_items).where(
        health_items.c.shop_id == bindparam("s"),
        health_items.c.measure == bindparam("m"),
        health_items.c.item_id == bindparam("i"),
    )
)


# On PostgreSQL a unit of work writes each rollup table in one statement (set_based.py).
ITEM_COLUMNS = ("shop_id", "measure", "item_id", "at", "hit", "pending", "example")
HOUR_COLUMNS = ("shop_id", "measure", "hour", "counted", "hits")
INSERT_ITEMS_AT_ONCE = set_based.prepared(set_based.insert_sql(health_items, ITEM_COLUMNS))
DELETE_ITEMS_AT_ONCE = set_based.prepared(
    "DELETE FROM health_items AS t USING "
    + set_based.recordset(health_items, ("shop_id", "measure", "item_id"), ("s", "m", "i"))
    + " WHERE t.shop_id = v.s AND t.measure = v.m AND t.item_id = v.i"
)
ADD_TO_HOURS_AT_ONCE = set_based.prepared(
    set_based.insert_sql(health_hours, HOUR_COLUMNS)
    + " ON CONFLICT (shop_id, measure, hour) DO UPDATE SET"
    " counted = health_hours.counted + excluded.counted,"
    " hits = health_hours.hits + excluded.hits"
)
UPDATE_SUBJECTS_AT_ONCE = set_based.prepared(
    "UPDATE health_subjects AS t SET record = v.record FROM "
    + set_based.recordset(health_subjects, ("subject_id", "record"), ("k", "record"))
    + " WHERE t.subject_id = v.k"
)
INSERT_SUBJECTS_AT_ONCE = set_based.prepared(
    set_based.insert_sql(health_subjects, ("subject_id", "shop_id", "record"))
)


@cache
def load_subjects(count: int) -> Prepared:
    """``count`` subjects by key (``k0``…), locked on PostgreSQL in one order for every writer."""
    keys = [bindparam(f"k{n}", type_=String()) for n in range(count)]
    return Prepared(
        select(health_subjects)
        .where(health_subjects.c.subject_id.in_(keys))
        .order_by(health_subjects.c.subject_id)
        .with_for_update()
    )


@cache
def add_to_hours(dialect: str) -> Prepared:
    """Add to an hour's sums, creating the row the first time (one statement, no read)."""
    insert = postgres_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(health_hours)
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=[health_hours.c.shop_id, health_hours.c.measure, health_hours.c.hour],
            set_={
                "counted": health_hours.c.counted + statement.excluded.counted,
                "hits": health_hours.c.hits + statement.excluded.hits,
            },
        ),
        ("shop_id", "measure", "hour", "counted", "hits"),
    )
