"""``aftersale daemon --once`` on the embedded SQLite database, as cron runs it, and reminders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aftersale
from tests.daemon.helpers import Db, run_cli

SHOP = "shop-a"


def _shipped(
    engine: aftersale.AfterSale, order_id: str, now: datetime, *, delivered: bool
) -> None:
    buyer = f"buyer-{order_id}"
    engine.order_paid(order_id, SHOP, buyer, "US", "USD", "30.00", at=now - timedelta(days=15))
    engine.order_shipped(order_id, at=now - timedelta(days=14))
    if delivered:  # returns may be opened for 15 days after delivery
        engine.order_delivered(order_id, at=now - timedelta(days=13))


def _open(engine: aftersale.AfterSale, case_id: str, kind: str, at: datetime) -> None:
    reason = "not_received" if kind == "refund_only" else "damaged"
    engine.open_case(case_id, f"O-{case_id}", kind, "buyer", reason, at=at)


def test_daemon_once_fires_everything_due_then_nothing_and_reminds_each_seller_deadline_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'cron.db'}"
    now = datetime.now(UTC)
    engine = aftersale.connect(url, require_identity=False)
    for case_id in ("DUE-1", "DUE-2", "SOON-1", "LATER-1", "REJ-1", "POD-1"):
        _shipped(engine, f"O-{case_id}", now, delivered=False)
    for case_id in ("CHAIN-1", "BUYER-1", "RECV-1"):
        _shipped(engine, f"O-{case_id}", now, delivered=True)
    # due: a refund review a day late, and one a minute late
    _open(engine, "DUE-1", "refund_only", now - timedelta(days=3))
    _open(engine, "DUE-2", "refund_only", now - timedelta(hours=48, minutes=1))
    # due twice over: review_timeout 8 days ago, then its ship-back window ran out 3 days ago
    _open(engine, "CHAIN-1", "return_refund", now - timedelta(days=10))
    # seller deadlines inside the 12 h reminder window: pending_review, awaiting_pod,
    # return_received
    _open(engine, "SOON-1", "refund_only", now - timedelta(hours=40))
    _open(engine, "POD-1", "refund_only", now - timedelta(hours=20))
    engine.act("POD-1", "request_pod", "platform", at=now - timedelta(hours=16))
    _open(engine, "RECV-1", "return_refund", now - timedelta(days=5))
    engine.act("RECV-1", "approve", "seller", at=now - timedelta(days=4))
    engine.act("RECV-1", "ship_return", "buyer", at=now - timedelta(days=3), tracking="R1")
    engine.act("RECV-1", "confirm_receipt", "seller", at=now - timedelta(hours=40))
    # a seller deadline outside the window: no reminder yet
    _open(engine, "LATER-1", "refund_only", now - timedelta(hours=20))
    # waiting on the buyer, deadline inside the window: never a seller reminder
    _open(engine, "BUYER-1", "return_refund", now - timedelta(days=6))
    engine.act("BUYER-1", "approve", "seller", at=now - timedelta(days=5) + timedelta(hours=6))
    _open(engine, "REJ-1", "refund_only", now - timedelta(hours=41))
    engine.act(
        "REJ-1",
        "reject",
        "seller",
        at=now - timedelta(hours=40),
        reject_reason="delivered_per_carrier",
    )
    engine.storage.engine.dispose()  # type: ignore[attr-defined]
    db = Db(url)
    before = db.transitions()

    runs = [run_cli("daemon", "--once", "--db", url, "--remind-before", "12h") for _ in range(3)]
    assert [run.returncode for run in runs] == [0, 0, 0], [run.stderr for run in runs]
    assert '"fired": 4' in runs[0].stderr and '"reminded": 3' in runs[0].stderr, runs[0].stderr
    for later in runs[1:]:
        assert '"fired": 0' in later.stderr and '"reminded": 0' in later.stderr, later.stderr

    engine = aftersale.connect(url)
    history = db.history()
    assert db.transitions() == before + 4
    assert history["DUE-1"][-1] == ("review_timeout", "system", "refunded")
    assert history["DUE-2"][-1] == ("review_timeout", "system", "refunded")
    assert [step[0] for step in history["CHAIN-1"]] == [
        "open",
        "review_timeout",
        "ship_back_timeout",
    ]
    chain = engine.case("CHAIN-1")["history"]
    opened = datetime.fromisoformat(chain[0]["at"])
    assert datetime.fromisoformat(chain[1]["at"]) == opened + timedelta(hours=48)
    assert datetime.fromisoformat(chain[2]["at"]) == opened + timedelta(hours=48, days=5)
    assert engine.case("CHAIN-1")["state"] == "closed"
    reminders = [e for e in engine.log(0, 10_000) if e["type"] == "deadline.approaching"]
    assert sorted(e["case_id"] for e in reminders) == ["POD-1", "RECV-1", "SOON-1"]
    for reminder in reminders:
        deadline = engine.case(reminder["case_id"])["deadline_at"]
        assert reminder["deadline_at"] == deadline
        assert reminder["waiting_for"] == "seller"
        assert datetime.fromisoformat(reminder["at"]) == datetime.fromisoformat(
            deadline
        ) - timedelta(hours=12)
    for waiting in ("SOON-1", "POD-1", "RECV-1", "LATER-1", "BUYER-1", "REJ-1"):
        assert engine.case(waiting)["deadline_at"] is not None, waiting  # still pending
    db.close()


def test_daemon_prunes_health_rollups_older_than_kept_and_refuses_to_keep_too_few(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=200)
    engine = aftersale.connect(url, require_identity=False)
    for number in range(3):  # a shop's orders of seven months ago, and one of last week
        _shipped(engine, f"O-OLD-{number}", long_ago, delivered=True)
    _shipped(engine, "O-NEW", now - timedelta(days=7) + timedelta(days=15), delivered=True)
    engine.storage.engine.dispose()  # type: ignore[attr-defined]

    refused = run_cli("daemon", "--once", "--db", url, "--keep-rollup-days", "30")
    assert refused.returncode == 2  # a bad option
    assert "at least 90 (the longest window in health.toml)" in refused.stderr

    done = run_cli("daemon", "--once", "--db", url, "--remind-before", "0")
    assert done.returncode == 0, done.stderr
    (line,) = [
        json.loads(text[text.index("{") :])
        for text in done.stderr.splitlines()
        if '"prune"' in text
    ]
    assert line["prune"] == "done" and line["items"] > 0 and line["hours"] > 0
    kept_from = datetime.fromisoformat(line["kept_from"])
    assert now - timedelta(days=121) < kept_from <= now - timedelta(days=120)
    db = Db(url)
    (oldest,) = db.execute("SELECT min(at) FROM health_items")[0]
    db.close()
    assert datetime.fromisoformat(oldest).replace(tzinfo=UTC) >= kept_from  # last week's
