"""Pruning the health rollups: rows older than any report needs are deleted, reports stay exact.

A report as of now reads only the last 90 days (the longest window of the shipped health.toml);
the rollups keep 30 more by default. A report whose window reaches before what is kept folds
the event log, as it does when the rollups cannot answer for any other reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from aftersale import AfterSale, InvalidInput, VirtualClock
from aftersale.adapters.schema import health_hours, health_items, health_rollups
from aftersale.clock import iso
from tests.conftest import EngineFactory, rollup_rows
from tests.shops import busy_shop, other_health_toml, report_from_log

SHOP = "shop-a"
LONGEST_WINDOW_DAYS = 90


def _two_seasons(engine: AfterSale, clock: VirtualClock) -> None:
    busy_shop(engine, clock, SHOP, prefix="OLD-", orders=10)
    clock.move_to(clock.now() + timedelta(days=150))
    busy_shop(engine, clock, SHOP, prefix="NEW-", orders=10)


def _from_log(engine: AfterSale, as_of: datetime) -> dict[str, Any]:
    return report_from_log(engine, SHOP, as_of)


def _oldest(engine: AfterSale) -> tuple[datetime | None, datetime | None]:
    """The oldest item instant and the oldest hour the rollups hold."""
    with engine.storage.engine.connect() as connection:  # type: ignore[attr-defined]
        item = connection.execute(sqlalchemy.select(sqlalchemy.func.min(health_items.c.at)))
        hour = connection.execute(sqlalchemy.select(sqlalchemy.func.min(health_hours.c.hour)))
        return item.scalar(), hour.scalar()


def _kept_from(engine: AfterSale) -> datetime | None:
    with engine.storage.engine.connect() as connection:  # type: ignore[attr-defined]
        return connection.execute(sqlalchemy.select(health_rollups.c.kept_from)).scalar()


def test_pruning_deletes_only_what_no_report_as_of_now_reads_and_reports_stay_exact(
    sql_db_url: str, make_engine: EngineFactory, clock: VirtualClock
) -> None:
    engine = make_engine(sql_db_url)
    _two_seasons(engine, clock)
    now = clock.now()
    before = rollup_rows(engine)

    pruned = engine.prune_health()

    kept_from = (now - timedelta(days=LONGEST_WINDOW_DAYS + 30)).replace(
        minute=0, second=0, microsecond=0
    )
    assert pruned == {
        "kept_from": iso(kept_from),
        "items": pruned["items"],
        "hours": pruned["hours"],
        "pruned": True,
    }
    assert pruned["items"] > 0 and pruned["hours"] > 0
    after = rollup_rows(engine)
    assert len(after["health_items"]) == len(before["health_items"]) - pruned["items"]
    assert after["health_subjects"] == before["health_subjects"]  # records are never pruned
    oldest_item, oldest_hour = _oldest(engine)
    assert oldest_item is not None and oldest_item >= kept_from
    assert oldest_hour is not None and oldest_hour >= kept_from
    assert _kept_from(engine) == kept_from

    # as of now, and as of a day whose windows all start after kept_from: from the rollups
    for as_of in (now, now - timedelta(days=25)):
        assert engine.storage.health.counts(SHOP, as_of) is not None
        assert engine.health(SHOP, as_of) == _from_log(engine, as_of)
    # a window reaching before kept_from: the log is folded, and the report is still exact
    long_ago = now - timedelta(days=60)
    assert engine.storage.health.counts(SHOP, long_ago) is None
    assert engine.health(SHOP, long_ago) == _from_log(engine, long_ago)

    assert engine.prune_health() == {**pruned, "items": 0, "hours": 0}  # nothing left to prune


def test_a_late_event_on_a_pruned_order_keeps_the_report_exact_and_the_next_prune_tidies(
    sql_db_url: str, make_engine: EngineFactory, clock: VirtualClock
) -> None:
    engine = make_engine(sql_db_url)
    _two_seasons(engine, clock)
    engine.prune_health()
    clock.move_to(clock.now() + timedelta(hours=2))
    engine.review_posted("OLD-O-1", 1, "product")  # an order paid five months ago
    engine.complaint_filed("OLD-O-2")
    assert engine.health(SHOP) == _from_log(engine, clock.now())
    engine.prune_health()
    oldest_item, oldest_hour = _oldest(engine)
    kept_from = _kept_from(engine)
    assert kept_from is not None
    assert oldest_item is not None and oldest_item >= kept_from
    assert oldest_hour is not None and oldest_hour >= kept_from
    assert engine.health(SHOP) == _from_log(engine, clock.now())


def test_a_rebuild_brings_back_everything_pruned(
    sql_db_url: str, make_engine: EngineFactory, clock: VirtualClock
) -> None:
    engine = make_engine(sql_db_url)
    _two_seasons(engine, clock)
    full = rollup_rows(engine)
    engine.prune_health()
    engine.rebuild_health()
    assert _kept_from(engine) is None
    assert rollup_rows(engine) == full
    long_ago = clock.now() - timedelta(days=60)
    assert engine.storage.health.counts(SHOP, long_ago) is not None
    assert engine.health(SHOP, long_ago) == _from_log(engine, long_ago)


@pytest.mark.parametrize("keep_days", [LONGEST_WINDOW_DAYS - 1, 0, -5, True, "120"])
def test_keeping_less_than_the_longest_window_is_refused_and_prunes_nothing(
    make_engine: EngineFactory, clock: VirtualClock, keep_days: Any
) -> None:
    engine = make_engine()
    _two_seasons(engine, clock)
    before = rollup_rows(engine)
    with pytest.raises(InvalidInput, match=r"keep_days .* at least 90 \(the longest window"):
        engine.prune_health(keep_days)
    assert rollup_rows(engine) == before
    assert _kept_from(engine) is None


def test_rollups_built_under_another_health_toml_are_left_alone(
    make_engine: EngineFactory, clock: VirtualClock, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = make_engine(url)
    _two_seasons(engine, clock)
    other = make_engine(url, config_dir=other_health_toml(tmp_path))
    before = rollup_rows(engine)
    assert other.prune_health()["pruned"] is False
    assert rollup_rows(engine) == before
