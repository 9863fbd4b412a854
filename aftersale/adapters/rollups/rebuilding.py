"""Rebuilding the health rollups: every subject folded again from the whole event log."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import Connection, select

from aftersale.adapters.rows import event_dict
from aftersale.adapters.schema import events
from aftersale.domain.health.facts import ShopRecord, apply, subject_of


def subject_batches(
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
