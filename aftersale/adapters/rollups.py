"""Health rollups: what a shop's score needs, kept up to date as its events are written.

Three tables, all derived from the event log and rebuilt from it by :meth:`Rollups.rebuild`:

- ``health_subjects``: each order's (or buyer message's) record, folded from its events;
- ``health_items``: what each measure counts of it (:mod:`aftersale.domain.health.items`);
- ``health_days``: per shop, measure and UTC day, how many items count and how many cost points.

:meth:`Rollups.record` runs inside the transaction that appends the events, so the rollups
commit or roll back with them. A report sums whole days from ``health_days`` and reads only the
two partial days at the window's ends from ``health_items``: a shop with a million orders is
scored from a few hundred rows. Asked about an instant before some of the shop's events, the
rollups take the subjects those events touched back to that instant (each from its own events);
with too many such events the caller folds the event log instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, and_, bindparam, delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from aftersale.adapters.rows import event_dict
from aftersale.adapters.schema import (
    events,
    health_days,
    health_items,
    health_rollups,
    health_subjects,
)
from aftersale.domain.events import Event
from aftersale.domain.health.facts import (
    MESSAGE_SUBJECT,
    ShopRecord,
    apply,
    fold,
    record_from_json,
    record_to_json,
    subject_of,
)
from aftersale.domain.health.items import MAX_EXAMPLES, Count, Item, Measure, count, measures
from aftersale.domain.health.settings import HealthSettings

ROLLUPS = "rollups"  # the one row of health_rollups
REWIND_LIMIT = 5_000  # events after the instant asked about, beyond which the log is folded
ItemKey = tuple[str, str]  # measure, item id
DayKey = tuple[str, str, date]  # shop, measure, day


@dataclass
class _Subject:
    shop_id: str
    record: ShopRecord
    stored: bool


class Rollups:
    """The health rollups of one database, under one health.toml."""

    def __init__(self, settings: HealthSettings, version: str) -> None:
        self.version = version
        self.measures = measures(settings)

    # -- writing, inside the transaction of the events --------------------------------------

    def record(self, connection: Connection, new_events: Sequence[Event]) -> None:
        """Fold newly appended events into their subjects, items and days."""
        touched = [
            (key, event)
            for event in new_events
            if event.shop_id is not None and (key := subject_of(_as_mapping(event))) is not None
        ]
        if not touched:
            return
        subjects = self._load(connection, sorted({key for key, _ in touched}))
        before = {key: self._items(subject.record) for key, subject in subjects.items()}
        for key, event in touched:
            subject = subjects.get(key)
            if subject is None:
                assert event.shop_id is not None
                subject = subjects[key] = _Subject(event.shop_id, ShopRecord(), stored=False)
            apply(subject.record, _as_mapping(event), event.at)
        changes = _Changes()
        for key, subject in subjects.items():
            changes.diff(subject.shop_id, before.get(key, {}), self._items(subject.record))
        self._save_subjects(connection, subjects)
        changes.write(connection)

    def _load(self, connection: Connection, keys: list[str]) -> dict[str, _Subject]:
        query = (
            select(health_subjects)
            .where(health_subjects.c.subject_id.in_(keys))
            .order_by(health_subjects.c.subject_id)  # one lock order for every writer
            .with_for_update()
        )
        return {
            row.subject_id: _Subject(row.shop_id, record_from_json(row.record), stored=True)
            for row in connection.execute(query)
        }

    def _items(self, record: ShopRecord) -> dict[ItemKey, Item]:
        return {
            (measure.name, item.item_id): item
            for measure in self.measures
            for item in measure.list_items(record)
        }

    @staticmethod
    def _save_subjects(connection: Connection, subjects: Mapping[str, _Subject]) -> None:
        rows = [
            {
                "k": key,
                "shop_id": s.shop_id,
                "record": record_to_json(s.record),
                "new": not s.stored,
            }
            for key, s in subjects.items()
        ]
        if added := [row for row in rows if row["new"]]:
            connection.execute(
                health_subjects.insert(),
                [
                    {"subject_id": r["k"], "shop_id": r["shop_id"], "record": r["record"]}
                    for r in added
                ],
            )
        if kept := [row for row in rows if not row["new"]]:
            statement = (
                health_subjects.update()
                .where(health_subjects.c.subject_id == bindparam("k"))
                .values(record=bindparam("record"))
            )
            connection.execute(statement, [{"k": r["k"], "record": r["record"]} for r in kept])

    # -- reading -----------------------------------------------------------------------------

    def current(self, connection: Connection) -> bool:
        """Whether the rollups were built under this health.toml (else reports fold the log)."""
        version = connection.execute(
            select(health_rollups.c.health_version).where(health_rollups.c.name == ROLLUPS)
        ).scalar()
        return version == self.version

    def adopt(self, connection: Connection, now: datetime) -> bool:
        """On a database with no events yet, the (empty) rollups are current: say so."""
        if connection.execute(select(health_rollups.c.name)).first() is not None:
            return False
        if connection.execute(select(events.c.seq).limit(1)).first() is not None:
            return False
        connection.execute(
            health_rollups.insert().values(name=ROLLUPS, health_version=self.version, built_at=now)
        )
        return True

    def counts(
        self, connection: Connection, shop_id: str, as_of: datetime
    ) -> dict[str, Count] | None:
        """Every measure's count for the shop as of ``as_of``; None when the log must be folded
        (the rollups are not current, or too much happened after ``as_of``)."""
        if not self.current(connection):
            return None
        rewound = _Rewind.after(connection, shop_id, as_of, self)
        if rewound is None:
            return None
        return {
            measure.name: self._count(connection, shop_id, measure, as_of, rewound)
            for measure in self.measures
        }

    def _count(
        self,
        connection: Connection,
        shop_id: str,
        measure: Measure,
        as_of: datetime,
        rewound: _Rewind,
    ) -> Count:
        start, end = measure.window(as_of)
        cut = as_of - measure.grace  # a pending item counts only when older than the grace
        first_day, last_day = _midnight(start) + timedelta(days=1), _midnight(cut)
        mine = (health_items.c.shop_id == shop_id) & (health_items.c.measure == measure.name)
        counts_now = or_(~health_items.c.pending, health_items.c.at < cut)
        counted, hits = 0, 0
        if first_day < last_day:
            edges = or_(
                and_(health_items.c.at > start, health_items.c.at < first_day),
                and_(health_items.c.at >= last_day, health_items.c.at <= end),
            )
            whole = connection.execute(
                select(func.sum(health_days.c.counted), func.sum(health_days.c.hits)).where(
                    health_days.c.shop_id == shop_id,
                    health_days.c.measure == measure.name,
                    health_days.c.day >= first_day.date(),
                    health_days.c.day < last_day.date(),
                )
            ).one()
            counted, hits = int(whole[0] or 0), int(whole[1] or 0)
        else:
            edges = and_(health_items.c.at > start, health_items.c.at <= end)
        edge = connection.execute(
            select(func.count(), func.sum(health_items.c.hit.cast(Integer()))).where(
                mine, edges, counts_now
            )
        ).one()
        counted, hits = counted + int(edge[0] or 0), hits + int(edge[1] or 0)
        then, now = rewound.counts(measure, as_of)
        counted += then.denominator - now.denominator
        hits += _hits(measure, then) - _hits(measure, now)
        in_window = mine & health_items.c.hit & (health_items.c.at > start)
        examples_query = (
            select(health_items.c.example, health_items.c.item_id)
            .where(in_window, health_items.c.at <= end, counts_now)
            .order_by(health_items.c.example)
            .execution_options(yield_per=64)
        )
        examples = set(then.examples)
        skip = rewound.items_of(measure.name)
        for example, item_id in connection.execute(examples_query):
            if len(examples) >= MAX_EXAMPLES and example > max(examples):
                break
            if item_id not in skip:
                examples.add(example)
        numerator = counted - hits if measure.counts_failures else hits
        return Count(numerator, counted, sorted(examples)[:MAX_EXAMPLES])

    # -- rebuilding --------------------------------------------------------------------------

    def rebuild(
        self, connection: Connection, now: datetime, on_events: Callable[[int], None]
    ) -> int:
        """Recompute every rollup from the event log in this transaction; how many subjects.

        On PostgreSQL the subjects table is locked first, so writers wait for the rebuild and
        then fold their events into the rebuilt rollups (none is counted twice or missed).
        """
        if connection.dialect.name == "postgresql":
            connection.execute(text("LOCK TABLE health_subjects IN EXCLUSIVE MODE"))
        for table in (health_items, health_days, health_subjects, health_rollups):
            connection.execute(delete(table))
        days: dict[DayKey, list[int]] = defaultdict(lambda: [0, 0])
        subjects = 0
        for batch in _subject_batches(connection, on_events):
            items, records = [], []
            for key, shop_id, record in batch:
                records.append(
                    {"subject_id": key, "shop_id": shop_id, "record": record_to_json(record)}
                )
                for (name, item_id), item in self._items(record).items():
                    items.append(_item_row(shop_id, name, item_id, item))
                    day = days[(shop_id, name, item.at.date())]
                    day[0] += 1
                    day[1] += item.hit
            connection.execute(health_subjects.insert(), records)
            if items:
                connection.execute(health_items.insert(), items)
            subjects += len(records)
        if days:
            connection.execute(
                health_days.insert(),
                [
                    {"shop_id": s, "measure": m, "day": d, "counted": c, "hits": h}
                    for (s, m, d), (c, h) in sorted(days.items())
                ],
            )
        connection.execute(
            health_rollups.insert().values(name=ROLLUPS, health_version=self.version, built_at=now)
        )
        return subjects


class _Changes:
    """What a batch of events did to the items and the day sums."""

    def __init__(self) -> None:
        self.removed: list[dict[str, Any]] = []
        self.added: list[dict[str, Any]] = []
        self.days: dict[DayKey, list[int]] = defaultdict(lambda: [0, 0])

    def diff(
        self, shop_id: str, before: Mapping[ItemKey, Item], after: Mapping[ItemKey, Item]
    ) -> None:
        for key, item in before.items():
            if after.get(key) != item:
                self.removed.append({"s": shop_id, "m": key[0], "i": key[1]})
                self._day(shop_id, key[0], item, -1)
        for key, item in after.items():
            if before.get(key) != item:
                self.added.append(_item_row(shop_id, key[0], key[1], item))
                self._day(shop_id, key[0], item, 1)

    def _day(self, shop_id: str, measure: str, item: Item, sign: int) -> None:
        day = self.days[(shop_id, measure, item.at.date())]
        day[0] += sign
        day[1] += sign * item.hit

    def write(self, connection: Connection) -> None:
        if self.removed:
            connection.execute(
                delete(health_items).where(
                    health_items.c.shop_id == bindparam("s"),
                    health_items.c.measure == bindparam("m"),
                    health_items.c.item_id == bindparam("i"),
                ),
                self.removed,
            )
        if self.added:
            connection.execute(health_items.insert(), self.added)
        changed = [
            {"shop_id": s, "measure": m, "day": d, "counted": c, "hits": h}
            for (s, m, d), (c, h) in sorted(self.days.items())  # one lock order for every writer
            if c or h
        ]
        if changed:
            connection.execute(_add_to_days(connection.dialect.name), changed)


class _Rewind:
    """The subjects whose events came after the instant asked about, as they were then."""

    def __init__(self, rollups: Rollups, then: dict[str, ShopRecord], now: dict[str, ShopRecord]):
        self.then = {
            m.name: [i for r in then.values() for i in m.list_items(r)] for m in rollups.measures
        }
        self.now = {
            m.name: [i for r in now.values() for i in m.list_items(r)] for m in rollups.measures
        }
        self.by_name = {m.name: m for m in rollups.measures}

    @classmethod
    def after(
        cls, connection: Connection, shop_id: str, as_of: datetime, rollups: Rollups
    ) -> _Rewind | None:
        later = connection.execute(
            select(events.c.type, events.c.order_id, events.c.data)
            .where(events.c.shop_id == shop_id, events.c.at > as_of)
            .limit(REWIND_LIMIT + 1)
        ).all()
        if len(later) > REWIND_LIMIT:
            return None
        keys = {
            key
            for row in later
            if (key := subject_of({"type": row.type, "order_id": row.order_id, **row.data}))
        }
        if not keys:
            return cls(rollups, {}, {})
        rows = connection.execute(
            select(health_subjects).where(health_subjects.c.subject_id.in_(sorted(keys)))
        )
        now = {row.subject_id: record_from_json(row.record) for row in rows}
        then = _as_of(connection, shop_id, now, as_of)
        return cls(rollups, then, now)

    def counts(self, measure: Measure, as_of: datetime) -> tuple[Count, Count]:
        """The rewound subjects' count as of ``as_of``, then as they stand now."""
        return count(measure, self.then[measure.name], as_of), count(
            measure, self.now[measure.name], as_of
        )

    def items_of(self, measure: str) -> set[str]:
        return {item.item_id for item in self.now[measure]}


def _as_of(
    connection: Connection, shop_id: str, now: Mapping[str, ShopRecord], as_of: datetime
) -> dict[str, ShopRecord]:
    """Each subject as it stood at ``as_of``: an order folded again from its own events, a
    message cut back to what had happened by then."""
    then: dict[str, ShopRecord] = {}
    order_ids = [key for key in now if not key.startswith(MESSAGE_SUBJECT)]
    if order_ids:
        query = (
            select(events)
            .where(events.c.shop_id == shop_id, events.c.order_id.in_(order_ids))
            .order_by(events.c.seq)
        )
        by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in connection.execute(query):
            event = event_dict(row)
            if subject_of(event) == row.order_id:
                by_order[row.order_id].append(event)
        then = {order_id: fold(by_order[order_id], as_of) for order_id in order_ids}
    for key, record in now.items():
        if key.startswith(MESSAGE_SUBJECT):
            then[key] = ShopRecord()
            for message in record.messages.values():
                if message.received_at <= as_of:
                    replied = message.replied_at
                    then[key].messages[message.message_id] = type(message)(
                        message.message_id,
                        message.order_id,
                        message.received_at,
                        replied if replied is not None and replied <= as_of else None,
                    )
    return then


def _subject_batches(
    connection: Connection, on_events: Callable[[int], None], size: int = 2_000
) -> Iterator[list[tuple[str, str, ShopRecord]]]:
    """Every subject folded from the whole log, in batches; ``on_events`` hears progress."""
    query = (
        select(events)
        .where(events.c.shop_id.is_not(None))
        .order_by(events.c.shop_id, events.c.order_id, events.c.seq)
        .execution_options(yield_per=5_000)
    )
    group: dict[str, tuple[str, ShopRecord]] = {}
    group_key: tuple[str, str | None] | None = None
    batch: list[tuple[str, str, ShopRecord]] = []
    seen = 0
    for row in connection.execute(query):
        seen += 1
        if seen % 5_000 == 0:
            on_events(5_000)
        if (row.shop_id, row.order_id) != group_key:
            batch += [(key, shop, record) for key, (shop, record) in group.items()]
            group, group_key = {}, (row.shop_id, row.order_id)
            if len(batch) >= size:
                yield batch
                batch = []
        event = event_dict(row)
        key = subject_of(event)
        if key is not None:
            record = group.setdefault(key, (row.shop_id, ShopRecord()))[1]
            apply(record, event, row.at)
    on_events(seen % 5_000)
    batch += [(key, shop, record) for key, (shop, record) in group.items()]
    if batch:
        yield batch


def _as_mapping(event: Event) -> dict[str, Any]:
    return {
        "type": event.type,
        "order_id": event.order_id,
        "case_id": event.case_id,
        **(event.data or {}),
    }


def _item_row(shop_id: str, measure: str, item_id: str, item: Item) -> dict[str, Any]:
    return {
        "shop_id": shop_id,
        "measure": measure,
        "item_id": item_id,
        "at": item.at,
        "hit": item.hit,
        "pending": item.pending,
        "example": item.example,
    }


def _hits(measure: Measure, tally: Count) -> int:
    return tally.denominator - tally.numerator if measure.counts_failures else tally.numerator


def _midnight(instant: datetime) -> datetime:
    return datetime.combine(instant.astimezone(UTC).date(), time(), UTC)


def _add_to_days(dialect: str) -> Any:
    """Add to a day's sums, creating the row the first time (one statement, no read)."""
    insert = postgres_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(health_days)
    return statement.on_conflict_do_update(
        index_elements=[health_days.c.shop_id, health_days.c.measure, health_days.c.day],
        set_={
            "counted": health_days.c.counted + statement.excluded.counted,
            "hits": health_days.c.hits + statement.excluded.hits,
        },
    )
