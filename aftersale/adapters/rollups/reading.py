"""Reading the health rollups: each measure's count in its window, as of an instant."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)

from aftersale.adapters.rows import event_dict
from aftersale.adapters.schema import events, health_hours, health_items, health_subjects
from aftersale.clock import hour_of
from aftersale.domain.health.facts import (
    MESSAGE_SUBJECT,
    ShopRecord,
    fold,
    record_from_json,
    subject_of,
)
from aftersale.domain.health.items import (
    MAX_EXAMPLES,
    Count,
    Item,
    Measure,
    count,
    newest_examples,
)

REWIND_LIMIT = 5_000  # events after the instant asked about, beyond which the log is folded


@dataclass(frozen=True)
class Window:
    """A measure's window as of an instant: whole UTC hours [first_hour, last_hour) are read
    from the hourly sums, the partial hours at both ends from the items."""

    measure: Measure
    start: datetime
    end: datetime
    cut: datetime  # a pending item counts only when it is older than this
    first_hour: datetime
    last_hour: datetime

    @classmethod
    def of(cls, measure: Measure, as_of: datetime) -> Window:
        start, end = measure.window(as_of)
        cut = as_of - measure.grace
        return cls(measure, start, end, cut, hour_of(start) + timedelta(hours=1), hour_of(cut))

    def params(self, index: int) -> dict[str, datetime]:
        """The bounds of :func:`sums_query`'s part ``index``. With no whole hour in the window
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


def sums_query(measures: Sequence[Measure]) -> Any:
    """One statement for every measure's window: the sums of its whole hours and the count of
    the items in its partial hours, as rows (measure, counted, hits), several per measure.
    Built once per health.toml, with each window's bounds as parameters."""
    hour, item = health_hours.c, health_items.c
    parts: list[Any] = []
    for index, measure in enumerate(measures):
        bound: dict[str, Any] = {
            name: bindparam(f"{name}_{index}") for name in ("start", "end", "cut", "first", "last")
        }
        parts.append(
            select(
                literal(measure.name).label("measure"),
                func.sum(hour.counted).label("counted"),
                func.sum(hour.hits).label("hits"),
            ).where(
                hour.shop_id == bindparam("shop_id"),
                hour.measure == measure.name,
                hour.hour >= bound["first"],
                hour.hour < bound["last"],
            )
        )
        # the partial hours at both ends, as two ranges: one OR of both would make PostgreSQL
        # read every item of the measure and filter
        for edge in (
            and_(item.at > bound["start"], item.at < bound["first"]),
            and_(item.at >= bound["last"], item.at <= bound["end"]),
        ):
            parts.append(
                select(
                    literal(measure.name).label("measure"),
                    func.count().label("counted"),
                    func.sum(item.hit.cast(Integer())).label("hits"),
                ).where(
                    item.shop_id == bindparam("shop_id"),
                    item.measure == measure.name,
                    edge,
                    or_(~item.pending, item.at < bound["cut"]),
                )
            )
    return union_all(*parts)


def window_sums(
    connection: Connection, query: Any, shop_id: str, windows: Sequence[Window]
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


def examples_of(
    connection: Connection, shop_id: str, window: Window, rewound: Rewind
) -> list[str]:
    """The most recent ids of what cost points in the window (the rewound subjects as they
    were then, not as they are now): read newest first from the hits' index, a few rows at a
    time (rows that do not count yet, or belong to rewound subjects, are passed over)."""
    skip = rewound.items_of(window.measure.name)
    limit = 4 * MAX_EXAMPLES + len(skip)
    while True:
        rows = connection.execute(
            EXAMPLES,
            {"shop_id": shop_id, "measure": window.measure.name, "limit": limit}
            | {"start": window.start, "end": window.end},
        ).all()
        found: list[tuple[datetime, str]] = []
        for at, example, item_id, pending in rows:
            if len({e for _, e in found}) >= MAX_EXAMPLES:
                break  # every later row is older than these
            if item_id not in skip and (not pending or at < window.cut):
                found.append((at, example))
        if len({e for _, e in found}) >= MAX_EXAMPLES or len(rows) < limit:
            return newest_examples([*found, *rewound.costly(window.measure)])
        limit *= 8


EXAMPLES = (
    select(
        health_items.c.at, health_items.c.example, health_items.c.item_id, health_items.c.pending
    )
    .where(
        health_items.c.shop_id == bindparam("shop_id"),
        health_items.c.measure == bindparam("measure"),
        health_items.c.hit == true(),  # as the partial index ix_health_items_hits says
        health_items.c.at > bindparam("start"),
        health_items.c.at <= bindparam("end"),
    )
    .order_by(health_items.c.at.desc(), health_items.c.example.desc())
    .limit(bindparam("limit"))
)


class Rewind:
    """The subjects whose events came after the instant asked about: as they were then (what
    the report must count) and as they are now (what the stored rollups already count)."""

    def __init__(
        self,
        measures: Sequence[Measure],
        as_of: datetime,
        then: Mapping[str, ShopRecord],
        now: Mapping[str, ShopRecord],
    ) -> None:
        self.as_of = as_of
        self.then = {m.name: _all_items(m, then) for m in measures}
        self.now = {m.name: _all_items(m, now) for m in measures}

    @classmethod
    def after(
        cls, connection: Connection, shop_id: str, as_of: datetime, measures: Sequence[Measure]
    ) -> Rewind | None:
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
            return cls(measures, as_of, {}, {})
        rows = connection.execute(
            select(health_subjects).where(health_subjects.c.subject_id.in_(sorted(keys)))
        )
        now = {row.subject_id: record_from_json(row.record) for row in rows}
        then = _as_of(connection, shop_id, now, as_of)
        return cls(measures, as_of, then, now)

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


def hits_of(measure: Measure, tally: Count) -> int:
    return tally.denominator - tally.numerator if measure.counts_failures else tally.numerator
