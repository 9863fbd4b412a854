"""`aftersale verify` finds every kind of damage done to a database on purpose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from importlib.resources import files

import pytest
import sqlalchemy

import aftersale
from aftersale.replay import replay


@pytest.fixture
def shop_db(sql_db_url: str) -> str:
    """A database holding the shipped return and cancellation stories, all invariants true."""
    lines: list[str] = []
    for name in ("returns", "cancellations"):
        text = (files("aftersale.scenarios") / f"{name}.jsonl").read_text("utf-8")
        lines += [line for line in text.splitlines() if line.startswith("{")]
    lines.sort(key=lambda line: datetime.fromisoformat(json.loads(line)["at"]).astimezone(UTC))
    result = replay(lines, db_url=sql_db_url)
    assert result.errors == []
    return sql_db_url


def _damage(url: str, sql: str) -> None:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        assert connection.exec_driver_sql(sql).rowcount >= 1
    engine.dispose()


def _rules(url: str) -> set[tuple[str, str]]:
    return {(v["rule"], v["subject"]) for v in aftersale.connect(url).verify()}


def test_a_healthy_database_verifies_clean(shop_db: str) -> None:
    assert aftersale.connect(shop_db).verify() == []


@pytest.mark.parametrize(
    ("damage", "found"),
    [
        (
            "DELETE FROM events WHERE seq = (SELECT seq FROM events WHERE case_id = 'RR-1' "
            "ORDER BY seq LIMIT 1 OFFSET 2)",
            ("history", "case RR-1"),
        ),
        ("UPDATE cases SET deadline_at = NULL WHERE case_id = 'CX-8'", None),
        ("UPDATE cases SET state = 'awaiting_pod' WHERE case_id = 'CX-1'", ("state", "case CX-1")),
        (
            "UPDATE orders SET refunded_total = '0.00' WHERE order_id = 'US-300401'",
            ("money", "order US-300401"),
        ),
        (
            "UPDATE orders SET open_case_id = 'RR-1' WHERE order_id = 'US-300401'",
            ("one_open_case", "order US-300401"),
        ),
        (
            "UPDATE cases SET state = 'pending_review' WHERE case_id = 'RR-3'",
            ("history", "case RR-3"),
        ),
    ],
)
def test_each_kind_of_damage_is_found_and_named(
    shop_db: str, damage: str, found: tuple[str, str] | None
) -> None:
    _damage(shop_db, damage)
    violations = _rules(shop_db)
    if found is None:  # CX-8 ended cancelled: a missing deadline there is no damage
        assert violations == set()
    else:
        assert found in violations


def test_a_waiting_case_without_its_deadline_is_found(sql_db_url: str) -> None:
    engine = aftersale.connect(sql_db_url, require_identity=False)
    engine.order_paid(
        "US-1", "shop-a", "buyer-ada", "US", "USD", "10.00", at="2026-03-02T09:00:00Z"
    )
    engine.open_case(
        "CX-1", "US-1", "cancellation", "buyer", "changed_mind", at="2026-03-02T12:00:00Z"
    )
    _damage(sql_db_url, "UPDATE cases SET deadline_at = NULL WHERE case_id = 'CX-1'")
    assert ("deadline", "case CX-1") in _rules(sql_db_url)


def test_the_command_exits_1_and_lists_violations(shop_db: str) -> None:
    _damage(shop_db, "UPDATE orders SET refunded_total = '999.00' WHERE order_id = 'US-300401'")
    done = subprocess.run(
        [sys.executable, "-m", "aftersale", "verify", "--db", shop_db],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ},
    )
    assert done.returncode == 1
    assert "order US-300401: [money]" in done.stdout
