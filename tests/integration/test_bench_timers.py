"""The timers figure's two sides do the work they claim: every seeded deadline taken, by our
daemon processes and by the job-per-deadline alternative alike."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from aftersale import AfterSale
from aftersale.bench import timers
from aftersale.bench.databases import own_database
from aftersale.bench.seed import seed_due_cases
from aftersale.bootstrap import connect


def test_the_daemon_side_fires_every_seeded_deadline() -> None:
    with own_database("sqlite://", "timers") as url:
        measured = timers.ours(url, 60, 1)
        assert measured["fired"] == 60
        assert measured["seconds"] > 0
        assert connect(url, migrate=False).status()["overdue"] == 0


def test_each_apscheduler_job_takes_its_cases_timeout() -> None:
    with own_database("sqlite://", "aps") as url:
        measured = timers.job_per_deadline(url, 40)
        engine = connect(url, migrate=False)
        assert measured["fired"] == 40
        assert engine.status()["overdue"] == 0
        assert engine.case("CJ-00000007")["state"] == "refunded"
        assert [step["action"] for step in engine.case("CJ-00000007")["history"]] == [
            "open",
            "review_timeout",
        ]


def test_an_apscheduler_job_that_takes_nothing_fails_the_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job whose case had nothing due did no work: counting it would flatter the baseline."""
    with own_database("sqlite://", "aps") as url:
        monkeypatch.setattr(timers, "seed_due_cases", _seed_nothing_due)
        with pytest.raises(RuntimeError, match=r"jobs failed, the first: CJ-\d+: nothing was due"):
            timers.job_per_deadline(url, 5)


def _seed_nothing_due(engine: AfterSale, count: int, now: datetime, **options: Any) -> None:
    options["spread"] = -timedelta(hours=1)  # every deadline in the coming hour
    seed_due_cases(engine, count, now, **options)
