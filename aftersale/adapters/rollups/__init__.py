"""Health rollups: what a shop's score needs, kept up to date as its events are written.

Three tables, all derived from the event log and rebuilt from it by :meth:`Rollups.rebuild`:

- ``health_subjects``: each order's (or buyer message's) record, folded from its events;
- ``health_items``: what each measure counts of it (:mod:`aftersale.domain.health.items`);
- ``health_hours``: per shop, measure and UTC hour, how many items count and how many cost
  points.

:meth:`Rollups.project` runs inside the transaction that appends the events (the unit of
work's commit), so the rollups
commit or roll back with them. A report sums whole hours from ``health_hours`` and reads only the
two partial hours at the window's ends from ``health_items``: a shop with a million orders is
scored from a few hundred rows. Asked about an instant before some of the shop's events, the
rollups take the subjects those events touched back to that instant (each from its own events);
with too many such events the caller folds the event log instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, text

from aftersale.adapters import set_based
from aftersale.adapters.prepared import Link
from aftersale.adapters.rollups.reading import (
    Rewind,
    Window,
    examples_of,
    hits_of,
    sums_query,
    window_sums,
)
from aftersale.adapters.rollups.rebuilding import subject_batches
from aftersale.adapters.rollups.writing import (
    INSERT_SUBJECT,
    INSERT_SUBJECTS_AT_ONCE,
    UPDATE_SUBJECT,
    UPDATE_SUBJECTS_AT_ONCE,
    Changes,
    ItemKey,
    Subject,
    as_mapping,
    load_subjects,
)
from aftersale.adapters.rows import KEYS_AT_ONCE, keyed
from aftersale.adapters.schema import (
    events,
    health_hours,
    health_items,
    health_rollups,
    health_subjects,
)
from aftersale.domain.events import Event
from aftersale.domain.health.facts import (
    ShopRecord,
    apply,
    record_from_json,
    record_to_json,
    subject_of,
)
from aftersale.domain.health.items import Count, Item, Measure, measures
from aftersale.domain.health.settings import HealthSettings

ROLLUPS = "rollups"  # the one row of health_rollups


@dataclass(frozen=True)
class Kept:
    """What current rollups still hold: every item and hour from ``kept_from`` on (all of
    them when None); older ones were pruned."""

    kept_from: datetime | None

    def covers(self, measures: Sequence[Measure], as_of: datetime) -> bool:
        """Whether every window of a report as of ``as_of`` starts at or after ``kept_from``:
        its whole hours and its partial hours' items are all still there."""
        if self.kept_from is None:
            return True
        return all(measure.window(as_of)[0] >= self.kept_from for measure in measures)


class Rollups:
    """The health rollups of one database, under one health.toml."""

    def __init__(self, settings: HealthSettings, version: str) -> None:
        self.version = version
        self.measures = measures(settings)
        self._listers = [(m.name, m.list_items, m.of_order) for m in self.measures]
        self._sums = sums_query(self.measures)

    # -- writing, inside the transaction of the events --------------------------------------

    def project(self, connection: Link | Connection, new_events: Sequence[Event]) -> None:
        """Fold newly appended events into their subjects, items and hourly sums: the health
        projection a unit of work's commit runs after writing the events."""
        touched = [
            (key, event, mapping)
            for event in new_events
            if event.shop_id is not None
            and (key := subject_of(mapping := as_mapping(event))) is not None
        ]
        if not touched:
            return
        subjects = self._load(connection, sorted({key for key, _, _ in touched}))
        before = {key: self._items(subject.record) for key, subject in subjects.items()}
        for key, event, mapping in touched:
            subject = subjects.get(key)
            if subject is None:
                assert event.shop_id is not None
                subject = subjects[key] = Subject(event.shop_id, ShopRecord(), stored=False)
            apply(subject.record, mapping, event.at)
        changes = Changes()
        for key, subject in subjects.items():
            changes.diff(subject.shop_id, before.get(key, {}), self._items(subject.record))
        self._save_subjects(connection, subjects)
        changes.write(connection)

    def _load(self, connection: Link | Connection, keys: list[str]) -> dict[str, Subject]:
        found: dict[str, Subject] = {}
        for start in range(0, len(keys), KEYS_AT_ONCE):
            count, params = keyed(keys[start : start + KEYS_AT_ONCE])
            for row in load_subjects(count).rows(connection, params):
                found[row.subject_id] = Subject(
                    row.shop_id, record_from_json(row.record), stored=True
                )
        return found

    def _items(self, record: ShopRecord) -> dict[ItemKey, Item]:
        """Every item of every measure of ``record``, as ``list_items`` lists them; a measure
        counting orders asked order by order (a generator a measure and subject, twice an
        event, was most of the cost of listing a one-order subject's few items)."""
        items: dict[ItemKey, Item] = {}
        orders = record.orders.values()
        for name, list_items, of_order in self._listers:
            if of_order is None:
                for item in list_items(record):
                    items[name, item.item_id] = item
            else:
                for order in orders:
                    if (found := of_order(order)) is not None:
                        items[name, found.item_id] = found
        return items

    @staticmethod
    def _save_subjects(connection: Link | Connection, subjects: Mapping[str, Subject]) -> None:
        rows = [
            {
                "k": key,
                "shop_id": s.shop_id,
                "record": record_to_json(s.record),
                "new": not s.stored,
            }
            for key, s in subjects.items()
        ]
        added = [
            {"subject_id": r["k"], "shop_id": r["shop_id"], "record": r["record"]}
            for r in rows
            if r["new"]
        ]
        updated = [{"k": r["k"], "record": r["record"]} for r in rows if not r["new"]]
        if isinstance(connection, Link) and connection.dialect.name == "postgresql":
            set_based.run(connection, INSERT_SUBJECTS_AT_ONCE, added)
            set_based.run(connection, UPDATE_SUBJECTS_AT_ONCE, updated)
            return
        INSERT_SUBJECT.run_many(connection, added)
        UPDATE_SUBJECT.run_many(connection, updated)

    # -- reading -----------------------------------------------------------------------------

    def current(self, connection: Connection) -> bool:
        """Whether the rollups were built under this health.toml (else reports fold the log)."""
        return self._state(connection) is not None

    def _state(self, connection: Connection, lock: bool = False) -> Kept | None:
        """What the rollups hold, when they were built under this health.toml; else None."""
        query = select(health_rollups.c.health_version, health_rollups.c.kept_from).where(
            health_rollups.c.name == ROLLUPS
        )
        row = connection.execute(query.with_for_update() if lock else query).first()
        return None if row is None or row.health_version != self.version else Kept(row.kept_from)

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
        state = self._state(connection)
        if state is None or not state.covers(self.measures, as_of):
            return None
        rewound = Rewind.after(connection, shop_id, as_of, self.measures)
        if rewound is None:
            return None
        windows = [Window.of(measure, as_of) for measure in self.measures]
        stored = window_sums(connection, self._sums, shop_id, windows)
        out = {}
        for window in windows:
            measure = window.measure
            then, now = rewound.counts(measure)
            counted = stored[measure.name][0] + then.denominator - now.denominator
            hits = stored[measure.name][1] + hits_of(measure, then) - hits_of(measure, now)
            examples = examples_of(connection, shop_id, window, rewound) if hits else []
            numerator = counted - hits if measure.counts_failures else hits
            out[measure.name] = Count(numerator, counted, examples)
        return out

    # -- pruning -----------------------------------------------------------------------------

    def start_pruning(self, connection: Connection, before: datetime) -> bool:
        """Mark items and hours before ``before`` as gone, so no report reads them from now
        on; False (nothing to prune) when the rollups are not current."""
        state = self._state(connection)
        if state is None:
            return False
        if state.kept_from is None or state.kept_from < before:  # never back: it only grows
            connection.execute(
                health_rollups.update()
                .where(health_rollups.c.name == ROLLUPS)
                .values(kept_from=before)
            )
        return True

    def prune_some(self, connection: Connection, before: datetime, pairs: int) -> tuple[int, int]:
        """Delete the items and hours before ``before`` of up to ``pairs`` (shop, measure)
        pairs, each by its own index range; (items, hours) deleted, (0, 0) when none is left.

        Every item has its hour's row (they are written together), so the old hours name
        every pair that still holds old items. Nothing is deleted once the rollups no longer
        say they start at ``before`` (a rebuild came in between and holds everything again):
        the rollups' row is locked first, as the rebuild locks it before it deletes.
        """
        state = self._state(connection, lock=True)
        if state is None or state.kept_from is None or state.kept_from < before:
            return 0, 0
        old = connection.execute(
            select(health_hours.c.shop_id, health_hours.c.measure)
            .where(health_hours.c.hour < before)
            .distinct()
            .limit(pairs)
        ).all()
        deleted = [0, 0]
        for shop_id, measure in old:
            for index, (table, instant) in enumerate(
                ((health_items, health_items.c.at), (health_hours, health_hours.c.hour))
            ):
                deleted[index] += connection.execute(
                    delete(table).where(
                        table.c.shop_id == shop_id, table.c.measure == measure, instant < before
                    )
                ).rowcount
        return deleted[0], deleted[1]

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
            # and the rollups' row, before any item: a prune locks it first too (no deadlock)
            connection.execute(select(health_rollups.c.name).with_for_update())
        for table in (health_items, health_hours, health_subjects, health_rollups):
            connection.execute(delete(table))
        subjects = 0
        for batch in subject_batches(connection, on_events):
            changes = Changes()  # from nothing to every item: the same writes as appends make
            for _, shop_id, record in batch:
                changes.diff(shop_id, {}, self._items(record))
            INSERT_SUBJECT.run_many(
                connection,
                [
                    {"subject_id": key, "shop_id": shop_id, "record": record_to_json(record)}
                    for key, shop_id, record in batch
                ],
            )
            changes.write(connection)
            subjects += len(batch)
        connection.execute(
            health_rollups.insert().values(name=ROLLUPS, health_version=self.version, built_at=now)
        )
        return subjects
