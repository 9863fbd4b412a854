"""When the rollups cannot answer, reports fold the event log; ``rebuild_health`` restores them.

The rollups are built under one health.toml: an engine with another one, or a database whose
rollups were never built, must not use them (the report would count the wrong things), and must
still give the right report. A report for an instant with too many later events folds the log.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

import aftersale.adapters.rollups.reading as rollups_reading
from aftersale import AfterSale, VirtualClock
from aftersale.adapters.schema import health_rollups
from tests.conftest import EngineFactory
from tests.shops import busy_shop, other_health_toml, report_from_log

SHOP = "shop-a"


def _busy_shop(engine: AfterSale, clock: VirtualClock) -> None:
    busy_shop(engine, clock, SHOP)


def _from_log(engine: AfterSale, as_of: Any) -> dict[str, Any]:
    return report_from_log(engine, SHOP, as_of)


def test_an_engine_under_another_health_toml_folds_the_log_until_rebuilt(
    make_engine: EngineFactory, clock: VirtualClock, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    first = make_engine(url)
    _busy_shop(first, clock)
    second = make_engine(url, config_dir=other_health_toml(tmp_path))
    assert first.storage.health.counts(SHOP, clock.now()) is not None
    assert second.storage.health.counts(SHOP, clock.now()) is None  # built under the first file
    report = second.health(SHOP)
    assert report == _from_log(second, clock.now())
    assert report != first.health(SHOP)  # the 7-day windows really count something else

    assert second.rebuild_health() == 12 + 12  # orders and messages
    assert second.storage.health.counts(SHOP, clock.now()) is not None
    assert second.health(SHOP) == report
    assert first.storage.health.counts(SHOP, clock.now()) is None  # now the first one folds
    assert first.health(SHOP) == _from_log(first, clock.now())


def test_rollups_never_built_are_not_trusted(
    make_engine: EngineFactory, clock: VirtualClock
) -> None:
    engine = make_engine()
    _busy_shop(engine, clock)
    with engine.storage.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(sqlalchemy.delete(health_rollups))  # as after an upgrade
    assert engine.storage.health.counts(SHOP, clock.now()) is None
    assert engine.health(SHOP) == _from_log(engine, clock.now())
    engine.rebuild_health()
    assert engine.storage.health.counts(SHOP, clock.now()) is not None
    assert engine.health(SHOP) == _from_log(engine, clock.now())


def test_too_much_after_the_instant_asked_about_folds_the_log(
    make_engine: EngineFactory, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine()
    _busy_shop(engine, clock)
    back = clock.now() - timedelta(days=5)
    assert engine.storage.health.counts(SHOP, back) is not None  # the later orders taken back
    assert engine.health(SHOP, as_of=back) == _from_log(engine, back)
    monkeypatch.setattr(rollups_reading, "REWIND_LIMIT", 3)
    assert engine.storage.health.counts(SHOP, back) is None
    assert engine.health(SHOP, as_of=back) == _from_log(engine, back)


def test_a_rebuild_on_postgresql_gives_the_rows_the_events_wrote(
    make_engine: EngineFactory, clock: VirtualClock, pg_url: str
) -> None:
    engine = make_engine(pg_url)
    _busy_shop(engine, clock)
    before = engine.health(SHOP)
    assert engine.rebuild_health() == 24
    assert engine.health(SHOP) == before == _from_log(engine, clock.now())


def test_examples_reach_past_many_messages_that_do_not_count_yet(
    make_engine: EngineFactory, clock: VirtualClock
) -> None:
    """The newest hits are read a few at a time; thirty fresh unanswered messages (not late
    yet, so not counted) must not hide the two old ones that cost points."""
    engine = make_engine()
    for n in range(2):
        engine.message_received(f"M-old-{n}", SHOP, None)
    clock.move_to(clock.now() + timedelta(days=2))
    for n in range(30):
        engine.message_received(f"M-fresh-{n:02d}", SHOP, None)
    assert engine.storage.health.counts(SHOP, clock.now()) is not None  # from the rollups
    report = engine.health(SHOP)
    chat = report["dimensions"]["customer_service"]["metrics"]["chat_response_rate_24h"]
    assert (chat["numerator"], chat["denominator"]) == (0, 2)
    assert chat["examples"] == ["M-old-1", "M-old-0"]
    assert report == _from_log(engine, clock.now())
