"""The set-based raw baseline of ``aftersale bench`` does the work ours does, in its fewest
statements: after the sweep and the approves both databases hold the same rows (per table,
cases per state, health sums per measure), and a baseline that skipped a write fails the
figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aftersale import connect
from aftersale.bench import raw, raw_postgres, raw_sqlite, timers
from aftersale.bench.census import census
from aftersale.bench.commands import approve
from aftersale.bench.databases import bare, own_database
from aftersale.bench.raw import Batch, refunded, seller_deadline_measure
from aftersale.bench.seed import seed_due_cases
from tests.conftest import pg_server_url


def _server(backend: str) -> str:
    return "sqlite://" if backend == "sqlite" else pg_server_url()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_raw_sweep_leaves_the_rows_our_sweep_leaves(backend: str) -> None:
    swept = timers.in_process(_server(backend), 25, batch=10)  # three batches, the last short
    assert swept.raw_seconds is not None and swept.raw_seconds > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_over_lines_the_raw_sweep_settles_the_line_as_our_sweep_does(backend: str) -> None:
    """Each case over 2 of the 3 units of one line of a 3-line order: the line's ledger, the
    order's other lines and the refund match ours (the census compares their content)."""
    swept = timers.in_process(_server(backend), 25, batch=10, lines=True)
    assert swept.raw_seconds is not None and swept.raw_seconds > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_raw_approves_leave_the_rows_our_approves_leave(backend: str) -> None:
    same, raw = approve(12, _server(backend))
    assert same.baseline is not None and raw.baseline is not None and raw.baseline > 0
    assert raw.ours == same.ours  # one run of ours beside both baselines


@pytest.mark.parametrize(
    ("backend", "driver"),
    [
        ("sqlite", raw_sqlite),
        pytest.param("postgres", raw_postgres, marks=pytest.mark.postgres),
    ],
)
def test_a_raw_baseline_that_skips_the_events_fails_the_figure(
    backend: str, driver: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(driver, "_write_events", lambda db, batch: None)
    with pytest.raises(
        RuntimeError,
        match=r"the set-based raw baseline did not do the same work: events: 75, ours 100$",
    ):
        timers.in_process(_server(backend), 25, batch=10)


def test_a_raw_baseline_that_skips_the_health_rollups_fails_the_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(raw_sqlite, "_write_health", lambda db, batch: None)
    with pytest.raises(RuntimeError, match=r"did not do the same work: .*health_hours"):
        approve(5, "sqlite://")


@pytest.mark.parametrize(
    ("forgotten", "named"),
    [
        ("lines", r"digest orders\.lines: .*ledger orders lines held by an open case: 5, ours 0"),
        ("refund", r"digest cases\.refund: .*digest events\.data: .*ledger cases refunds: 0"),
    ],
)
def test_a_raw_baseline_that_forgets_the_ledger_fails_the_figure(
    forgotten: str, named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows counted alike are not enough: the lines' ledger and the refunds are compared."""
    settled = raw._settled

    def forgetful(case: raw.Claimed) -> Any:
        lines, refund, shipping = settled(case)
        if forgotten == "lines":
            return case.order_lines, refund, shipping
        return lines, None, shipping

    monkeypatch.setattr(raw, "_settled", forgetful)
    with pytest.raises(
        RuntimeError, match=rf"set-based raw baseline did not do the same work: .*{named}"
    ):
        approve(5, "sqlite://")


def test_the_census_counts_health_sums_per_measure() -> None:
    with own_database("sqlite://", "census") as url:
        timers.ours(url, 10, 1, batch=10)
        counted = census(url)
    assert counted["cases refunded"] == 10
    assert counted["health_hours after_sale_on_time_rate hits"] == 10
    assert counted["events"] == 40  # paid, shipped, opened, timed out
    assert counted["ledger cases refunds"] == counted["ledger events refunds"] == 10
    assert counted["ledger orders lines held by an open case"] == 0
    refunded = counted["ledger orders lines refunded_amount"]
    assert (
        refunded
        == counted["ledger cases refunds total"]
        == counted["ledger orders refunded_total"]
    )


@pytest.mark.parametrize(
    ("backend", "driver"),
    [
        ("sqlite", raw_sqlite),
        pytest.param("postgres", raw_postgres, marks=pytest.mark.postgres),
    ],
)
def test_a_stale_version_fails_the_raw_batch_and_writes_nothing(
    backend: str, driver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raw baseline's compare-and-set is real: a batch holding one stale version fails
    whole (on PostgreSQL the statement checks its own row count, inside the pipeline)."""

    def one_stale(*args: Any, **options: Any) -> Batch:
        batch = refunded(*args, **options)
        batch.cases[-1]["expected"] -= 1  # as if another writer had moved the case since
        return batch

    monkeypatch.setattr(driver, "refunded", one_stale)
    now = datetime.now(UTC)
    with own_database(_server(backend), "stale") as url:
        engine = connect(url)
        seed_due_cases(engine, 5, now, spread=timedelta(hours=1), with_history=True)
        measure = seller_deadline_measure(engine)
        engine.close()
        db = bare(url)
        try:
            with pytest.raises(RuntimeError, match="compare-and-set"):
                driver.sweep(db, now, 10, measure)
        finally:
            db.close()
        assert census(url)["cases pending_review"] == 5
        assert census(url)["events"] == 15
