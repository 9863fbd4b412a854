"""Health rollups: what a shop's score needs, kept up to date as its events are written.

Three tables, all derived from the event log and rebuilt from it by :meth:`Rollups.rebuild`:

- ``health_subjects``: each order's (or buyer message's) record, folded from its events;
- ``health_items``: what each measure counts of it (:mod:`aftersale.domain.health.items`);
- ``health_hours``: per shop, measure and UTC hour, how many items count and how many cost
  points.

:meth:`Rollups.record` runs inside the transaction that appends the events, so the rollups
commit or roll back with them. A report sums whole hours from ``health_hours`` and reads only the
two partial hours at the window's ends from ``health_items``: a shop with a million orders is
scored from a few hundred rows. Asked about an instant before some of the shop's events, the
rollups take the subjects those events touched back to that instant (each from its own events);
with too many such events the caller folds the event log instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from aftersale.adapters.rows import event_dict
from aftersale.adapters.schema import (
    events,
    health_hours,
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
from aftersale.domain.health.items import (
    MAX_EXAMPLES,
    Count,
    Item,
    Measure,
    count,
    measures,
    newest_examples,
)
from aftersale.domain.health.settings import HealthSettings

ROLLUPS = "rollups"  # the one row of health_rollups
REWIND_LIMIT = 5_000  # events after the instant asked about, beyond which the log is folded
ItemKey = tuple[str, str]  # measure, item id
HourKey = tuple[str, str, datetime]  # shop, measure, UTC hour


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
        self._sums = _sums_query(self.measures)

    # -- writing, inside the transaction of the events --------------------------------------

    def record(self, connection: Connection, new_events: Sequence[Event]) -> None:
        """Fold newly appended events into their subjects, items and hourly sums."""
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
        return {
            row.subject_id: _Subject(row.shop_id, record_from_json(row.record), stored=True)
            for row in connection.execute(_LOAD_SUBJECTS, {"keys": keys})
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
                _INSERT_SUBJECT,
                [
                    {"subject_id": r["k"], "shop_id": r["shop_id"], "record": r["record"]}
                    for r in added
                ],
            )
        if kept := [row for row in rows if not row["new"]]:
            connection.execute(
                _UPDATE_SUBJECT, [{"k": r["k"], "record": r["record"]} for r in kept]
            )

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
        windows = [_Window.of(measure, as_of) for measure in self.measures]
        stored = _window_sums(connection, self._sums, shop_id, windows)
        out = {}
        for window in windows:
            measure = window.measure
            then, now = rewound.counts(measure)
            counted = stored[measure.name][0] + then.denominator - now.denominator
            hits = stored[measure.name][1] + _hits(measure, then) - _hits(measure, now)
            examples = _examples(connection, shop_id, window, rewound) if hits else []
            numerator = counted - hits if measure.counts_failures else hits
            out[measure.name] = Count(numerator, counted, examples)
        return out

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
        for table in (health_items, health_hours, health_subjects, health_rollups):
            connection.execute(delete(table))
        hours: dict[HourKey, list[int]] = defaultdict(lambda: [0, 0])
        subjects = 0
        for batch in _subject_batches(connection, on_events):
            items, records = [], []
            for key, shop_id, record in batch:
                records.append(
                    {"subject_id": key, "shop_id": shop_id, "record": record_to_json(record)}
                )
                for (name, item_id), item in self._items(record).items():
                    items.append(_item_row(shop_id, name, item_id, item))
                    bucket = hours[(shop_id, name, _hour(item.at))]
                    bucket[0] += 1
                    bucket[1] += item.hit
            connection.execute(health_subjects.insert(), records)
            if items:
                connection.execute(health_items.insert(), items)
            subjects += len(records)
        if hours:
            connection.execute(
                health_hours.insert(),
                [
                    {"shop_id": s, "measure": m, "hour": d, "counted": c, "hits": h}
                    for (s, m, d), (c, h) in sorted(hours.items())
                ],
            )
        connection.execute(
            health_rollups.insert().values(name=ROLLUPS, health_version=self.version, built_at=now)
        )
        return subjects


@dataclass(frozen=True)
class _Window:
    """A measure's window as of an instant: whole UTC hours [first_hour, last_hour) are read
    from the hourly sums, the partial hours at both ends from the items."""

    measure: Measure
    start: datetime
    end: datetime
    cut: datetime  # a pending item counts only when it is older than this
    first_hour: datetime
    last_hour: datetime

    @classmethod
    def of(cls, measure: Measure, as_of: datetime) -> _Window:
        start, end = measure.window(as_of)
        cut = as_of - measure.grace
        return cls(measure, start, end, cut, _hour(start) + timedelta(hours=1), _hour(cut))

    def params(self, index: int) -> dict[str, datetime]:
        """The bounds of :func:`_sums_query`'s part ``index``. With no whole hour in the window
        both hour bounds are its end: the sums part is empty and the edges cover the window."""
        first, last = self.first_hour, self.last_hour
        if first >= last:
            first = last = self.end
        return {
            f"start_{index}": self.start,
            f"end_{index}": self.end,
            f"cut_{index}": self.cut,
            f"first_{index}": first,
            f"last_{index}": last,
        }


def _sums_query(measures: Sequence[Measure]) -> Any:
    """One statement for every measure's window: the sums of its whole hours and the count of
    the items in its partial hours, as rows (measure, source, counted, hits). Built once per
    health.toml, with each window's bounds as parameters."""
    hour, item = health_hours.c, health_items.c
    parts: list[Any] = []
    for index, measure in enumerate(measures):
        bound: dict[str, Any] = {
            name: bindparam(f"{name}_{index}") for name in ("start", "end", "cut", "first", "last")
        }
        parts.append(
            select(
                literal(measure.name).label("measure"),
                literal("hours").label("source"),
                func.sum(hour.counted).label("counted"),
                func.sum(hour.hits).label("hits"),
            ).where(
                hour.shop_id == bindparam("shop_id"),
                hour.measure == measure.name,
                hour.hour >= bound["first"],
                hour.hour < bound["last"],
            )
        )
        parts.append(
            select(
                literal(measure.name).label("measure"),
                literal("items").label("source"),
                func.count().label("counted"),
                func.sum(item.hit.cast(Integer())).label("hits"),
            ).where(
                item.shop_id == bindparam("shop_id"),
                item.measure == measure.name,
                or_(
                    and_(item.at > bound["start"], item.at < bound["first"]),
                    and_(item.at >= bound["last"], item.at <= bound["end"]),
                ),
                or_(~item.pending, item.at < bound["cut"]),
            )
        )
    return union_all(*parts)


def _window_sums(
    connection: Connection, query: Any, shop_id: str, windows: Sequence[_Window]
) -> dict[str, tuple[int, int]]:
    """Each measure's counted and hits in its window, stored as they are now."""
    params: dict[str, Any] = {"shop_id": shop_id}
    for index, window in enumerate(windows):
        params.update(window.params(index))
    sums = {window.measure.name: (0, 0) for window in windows}
    for row in connection.execute(query, params):
        counted, hits = sums[row.measure]
        sums[row.measure] = (counted + int(row.counted or 0), hits + int(row.hits or 0))
    return sums


def _examples(
    connection: Connection, shop_id: str, window: _Window, rewound: _Rewind
) -> list[str]:
    """The most recent ids of what cost points in the window (the rewound subjects as they
    were then, not as they are now): read newest first from the hits' index, so the scan stops
    after a handful of rows."""
    name = window.measure.name
    query = (
        select(
            health_items.c.at,
            health_items.c.example,
            health_items.c.item_id,
            health_items.c.pending,
        )
        .where(
            health_items.c.shop_id == shop_id,
            health_items.c.measure == name,
            health_items.c.hit.is_(True),
            health_items.c.at > window.start,
            health_items.c.at <= window.end,
        )
        .order_by(health_items.c.at.desc(), health_items.c.example.desc())
        .execution_options(yield_per=16)
    )
    found: list[tuple[datetime, str]] = []
    skip = rewound.items_of(name)
    for at, example, item_id, pending in connection.execute(query):
        if len({e for _, e in found}) >= MAX_EXAMPLES:
            break  # every later row is older than these
        if item_id not in skip and (not pending or at < window.cut):
            found.append((at, example))
    return newest_examples([*found, *rewound.costly(window.measure)])


class _Changes:
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
                self.added.append(_item_row(shop_id, key[0], key[1], item))
                self._hour_delta(shop_id, key[0], item, 1)

    def _hour_delta(self, shop_id: str, measure: str, item: Item, sign: int) -> None:
        bucket = self.hours[(shop_id, measure, _hour(item.at))]
        bucket[0] += sign
        bucket[1] += sign * item.hit

    def write(self, connection: Connection) -> None:
        if self.removed:
            connection.execute(_DELETE_ITEM, self.removed)
        if self.added:
            connection.execute(_INSERT_ITEM, self.added)
        changed = [
            {"shop_id": s, "measure": m, "hour": d, "counted": c, "hits": h}
            for (s, m, d), (c, h) in sorted(self.hours.items())  # one lock order for every writer
            if c or h
        ]
        if changed:
            connection.execute(_add_to_hours(connection.dialect.name), changed)


class _Rewind:
    """The subjects whose events came after the instant asked about: as they were then (what
    the report must count) and as they are now (what the stored rollups already count)."""

    def __init__(
        self,
        rollups: Rollups,
        as_of: datetime,
        then: Mapping[str, ShopRecord],
        now: Mapping[str, ShopRecord],
    ) -> None:
        self.as_of = as_of
        self.then = {m.name: _all_items(m, then) for m in rollups.measures}
        self.now = {m.name: _all_items(m, now) for m in rollups.measures}

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
            return cls(rollups, as_of, {}, {})
        rows = connection.execute(
            select(health_subjects).where(health_subjects.c.subject_id.in_(sorted(keys)))
        )
        now = {row.subject_id: record_from_json(row.record) for row in rows}
        then = _as_of(connection, shop_id, now, as_of)
        return cls(rollups, as_of, then, now)

    def counts(self, measure: Measure) -> tuple[Count, Count]:
        """The rewound subjects' count as they were then, and as they stand now."""
        return (
            count(measure, self.then[measure.name], self.as_of),
            count(measure, self.now[measure.name], self.as_of),
        )

    def costly(self, measure: Measure) -> list[tuple[datetime, str]]:
        """What cost points in the window among the rewound subjects as they were then."""
        start, end = measure.window(self.as_of)
        cut = self.as_of - measure.grace
        return [
            (item.at, item.example)
            for item in self.then[measure.name]
            if item.hit and start < item.at <= end and (not item.pending or item.at < cut)
        ]

    def items_of(self, measure: str) -> set[str]:
        return {item.item_id for item in self.now[measure]}


def _all_items(measure: Measure, records: Mapping[str, ShopRecord]) -> list[Item]:
    return [item for record in records.values() for item in measure.list_items(record)]


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


def _hour(instant: datetime) -> datetime:
    """The UTC hour an instant falls in: the rollups' unit of time."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# Built once: building a statement costs more than running it on SQLite.
_LOAD_SUBJECTS = (
    select(health_subjects)
    .where(health_subjects.c.subject_id.in_(bindparam("keys", expanding=True)))
    .order_by(health_subjects.c.subject_id)  # one lock order for every writer
    .with_for_update()
)
_INSERT_SUBJECT = health_subjects.insert()
_UPDATE_SUBJECT = (
    health_subjects.update()
    .where(health_subjects.c.subject_id == bindparam("k"))
    .values(record=bindparam("record"))
)
_INSERT_ITEM = health_items.insert()
_DELETE_ITEM = delete(health_items).where(
    health_items.c.shop_id == bindparam("s"),
    health_items.c.measure == bindparam("m"),
    health_items.c.item_id == bindparam("i"),
)


@cache
def _add_to_hours(dialect: str) -> Any:
    """Add to an hour's sums, creating the row the first time (one statement, no read)."""
    insert = postgres_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(health_hours)
    return statement.on_conflict_do_update(
        index_elements=[health_hours.c.shop_id, health_hours.c.measure, health_hours.c.hour],
        set_={
            "counted": health_hours.c.counted + statement.excluded.counted,
            "hits": health_hours.c.hits + statement.excluded.hits,
        },
    )
