"""``aftersale policy show`` and ``policy list`` through the real command line: the policy the
engine loads, every timer, market, threshold and code of it, and the versions cases follow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import holidays
import pytest

import aftersale
from aftersale.config import default_config_dir, load_policy
from aftersale.health_config import load_health
from tests.e2e.test_cli_operator import _on_a_terminal

SPRING_OVERRIDE = '\n[overrides.MY.return_refund]\nawaiting_return_shipment = "7d"\n'


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("COLUMNS", None)  # pytest-xdist's workers set 80
    env.pop("AFTERSALE_DB_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "aftersale", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _spring_config(tmp_path: Path) -> Path:
    """The shipped config/ renamed "spring", MY's ship-back window 7 days, alerts at 3.5."""
    folder = tmp_path / "spring"
    shutil.copytree(default_config_dir(), folder)
    policy = folder / "policy.toml"
    policy.write_text(policy.read_text().replace('name = "default"', 'name = "spring"'))
    timers = folder / "timers.toml"
    timers.write_text(timers.read_text() + SPRING_OVERRIDE)
    health = folder / "health.toml"
    health.write_text(health.read_text().replace("raise_below = 4.0", "raise_below = 3.5"))
    return folder


# -- policy show ---------------------------------------------------------------------------


def test_policy_show_json_holds_everything_the_loaded_policy_and_health_settings_hold(
    tmp_path: Path,
) -> None:
    shown = _json(_run(tmp_path, "policy", "show", "--json"))
    policy, (health, health_version) = load_policy(), load_health()

    assert shown["version"] == policy.version
    assert shown["free_cancel_window_seconds"] == 3600
    assert shown["high_value_review_business_days"] == policy.high_value_review_business_days
    timers = {(t["kind"], t["state"]): t for t in shown["timers"]}
    assert set(timers) == {(kind.value, state.value) for kind, state in policy.timers}
    for (kind, state), window in policy.timers.items():
        timer = timers[(kind.value, state.value)]
        assert timer["seconds"] == window.total_seconds()
        assert timer["on_timeout"].endswith("_timeout")
        assert timer["markets"] == {code: window.total_seconds() for code in policy.markets}
    assert timers[("return_refund", "return_received")]["on_timeout"] == "refund_timeout"
    assert shown["overrides"] == {}

    markets = {m["market"]: m for m in shown["markets"]}
    assert set(markets) == set(policy.markets)
    for code, market in policy.markets.items():
        assert markets[code]["timezone"] == market.timezone.key
        assert markets[code]["currency"] == market.currency
        assert markets[code]["high_value_threshold"] == str(market.high_value_threshold)
        assert markets[code]["return_window_seconds"] == market.return_window.total_seconds()
        assert markets[code]["evidence_kinds"] == sorted(market.evidence_kinds)
    us = markets["US"]["holidays"]
    first = datetime.fromisoformat(us["from"]).date()
    calendar = holidays.country_holidays("US", years=[first.year, first.year + 1])
    expected = sorted(d for d in calendar if first <= d < first + timedelta(days=365))
    assert us["dates"] == [d.isoformat() for d in expected]  # Christmas among them, always
    assert abs(first - datetime.now(UTC).date()) <= timedelta(days=1)  # New York's today

    assert shown["reasons"]["buyer"] == {c: r.value for c, r in policy.buyer_reasons.items()}
    assert shown["reasons"]["buyer"]["not_received"] == "logistics"
    assert shown["reasons"]["seller_cancellation"]["buyer_requested"] == "buyer"
    assert shown["reasons"]["needing_unused_item"] == ["no_longer_needed"]
    assert shown["reject"]["codes"] == sorted(policy.reject_reasons)
    assert shown["reject"]["needing_note"] == ["other"]
    assert shown["evidence_kinds"] == sorted(policy.evidence_kinds)

    scored = shown["health"]
    assert scored["version"] == health_version
    alerts = {"raise_below": 4.0, "consecutive_days": 7, "clear_at_or_above": 4.2}
    assert scored["alerts"] == alerts
    assert [(t["tier"], t["floor"]) for t in scored["tiers"]] == [
        (name, floor) for name, floor in health.tiers
    ]
    assert scored["tiers"][0]["privileges"] == ["campaigns", "badge"]
    assert scored["dimensions"] == dict(health.dimension_weights)
    assert [m["metric"] for m in scored["metrics"]] == [s.metric_id for s in health.metrics]
    assert scored["metrics"][0]["bands"][0] == [0.0, 5.0]


def test_policy_show_prints_every_timer_market_threshold_and_code_as_tables(
    tmp_path: Path,
) -> None:
    done = _run(tmp_path, "policy", "show")
    assert done.returncode == 0, done.stderr
    text, policy = done.stdout, load_policy()
    assert f"policy {policy.version}" in text
    for title in ("timers", "markets", "public holidays", "health tiers", "health metrics"):
        assert title in text
    for words in ("return_in_transit", "8d", "receipt_timeout", "Asia/Kuala_Lumpur", "3500.00"):
        assert words in text
    assert "within 1h of payment" in text and "4 business days" in text
    assert "below 4.0 and clears at or above 4.2" in text
    codes = [*policy.buyer_reasons, *policy.seller_cancellation_reasons, *policy.reject_reasons]
    assert all(code in text for code in codes)
    assert "Traceback" not in done.stderr


def test_policy_show_at_80_columns_cuts_no_code_zone_or_version(tmp_path: Path) -> None:
    status, text = _on_a_terminal(tmp_path, "policy", "show", columns=80)
    assert status == 0, text
    policy = load_policy()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    whole = [policy.version, *(m.timezone.key for m in policy.markets.values())]
    whole += [*policy.buyer_reasons, *policy.reject_reasons, "awaiting_return_shipment"]
    cells = set(re.findall(r"[\w/.-]+", text))
    assert [word for word in whole if word not in cells] == []


def test_policy_show_of_another_config_shows_its_market_overrides_and_thresholds(
    tmp_path: Path,
) -> None:
    spring = _spring_config(tmp_path)
    shown = _json(_run(tmp_path, "policy", "show", "--config", str(spring), "--json"))
    assert shown["version"] == load_policy(spring).version
    assert shown["version"].startswith("spring-")
    (ship_back,) = [t for t in shown["timers"] if t["state"] == "awaiting_return_shipment"]
    assert ship_back["seconds"] == 5 * 86400
    assert ship_back["markets"] == {
        "US": 432000,
        "UK": 432000,
        "MY": 604800,
        "TH": 432000,
        "JP": 432000,
        "KW": 432000,
    }
    assert shown["overrides"] == {
        "MY": [{"kind": "return_refund", "state": "awaiting_return_shipment", "seconds": 604800}]
    }
    assert shown["health"]["alerts"]["raise_below"] == 3.5

    table = _run(tmp_path, "policy", "show", "--config", str(spring)).stdout
    assert "MY 7d" in table and "below 3.5" in table

    broken = _run(tmp_path, "policy", "show", "--config", str(tmp_path / "none"))
    assert broken.returncode == 2
    (spring / "timers.toml").write_text('[refund_only]\npending_review = "soon"\n')
    refused = _run(tmp_path, "policy", "show", "--config", str(spring))
    assert refused.returncode == 2 and "timers.toml" in refused.stderr, refused.stderr


# -- policy list ---------------------------------------------------------------------------


def _paid_and_opened(
    engine: aftersale.AfterSale, case_id: str, kind: str, reason: str, now: datetime
) -> None:
    order = f"O-{case_id}"
    engine.order_paid(order, "shop-a", f"buyer-{case_id}", "US", "USD", "20.00", at=now)
    if kind != "cancellation":
        engine.order_shipped(order, at=now)
    engine.open_case(case_id, order, kind, "buyer", reason, at=now)


def test_policy_list_counts_the_open_and_all_cases_pinned_to_each_version(
    tmp_path: Path, sql_db_url: str
) -> None:
    upgraded = _run(tmp_path, "db", "upgrade", "--db", sql_db_url)
    assert upgraded.returncode == 0, upgraded.stderr
    fresh = _json(_run(tmp_path, "policy", "list", "--db", sql_db_url, "--json"))
    default = load_policy().version
    assert fresh == {
        "policies": [
            {
                "version": default,
                "stored_at": None,
                "cases": 0,
                "open_cases": 0,
                "in_force": True,
            }
        ]
    }
    assert "not yet: no case opened" in _run(tmp_path, "policy", "list", "--db", sql_db_url).stdout

    now = datetime.now(UTC) - timedelta(minutes=5)
    engine = aftersale.connect(sql_db_url, migrate=False, require_identity=False)
    _paid_and_opened(engine, "CX-1", "cancellation", "changed_mind", now)  # free: cancelled
    _paid_and_opened(engine, "RO-1", "refund_only", "not_received", now)  # pending_review
    engine.storage.engine.dispose()  # type: ignore[attr-defined]
    spring = _spring_config(tmp_path)
    engine = aftersale.connect(
        sql_db_url, config_dir=spring, migrate=False, require_identity=False
    )
    _paid_and_opened(engine, "RO-2", "refund_only", "not_received", now)
    _paid_and_opened(engine, "RO-3", "refund_only", "not_received", now)
    engine.act("RO-3", "approve", "seller")  # refunded
    engine.storage.engine.dispose()  # type: ignore[attr-defined]

    listed = _json(_run(tmp_path, "policy", "list", "--db", sql_db_url, "--json"))["policies"]
    counts = [(p["version"], p["cases"], p["open_cases"], p["in_force"]) for p in listed]
    spring_version = load_policy(spring).version
    assert counts == [(default, 2, 1, True), (spring_version, 2, 1, False)]  # oldest first
    assert all(p["stored_at"] and p["stored_at"].endswith("Z") for p in listed)
    in_spring = _json(
        _run(tmp_path, "policy", "list", "--db", sql_db_url, "--config", str(spring), "--json")
    )["policies"]
    assert [p["in_force"] for p in in_spring] == [False, True]

    table = _run(tmp_path, "policy", "list", "--db", sql_db_url)
    assert table.returncode == 0, table.stderr
    assert default in table.stdout and spring_version in table.stdout
    assert "in force" in table.stdout and "open cases" in table.stdout


def test_policy_list_on_a_database_without_the_schema_exits_3_and_creates_nothing(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "typo.db"
    done = _run(tmp_path, "policy", "list", "--db", f"sqlite:///{missing}", "--json")
    assert done.returncode == 3
    assert json.loads(done.stdout)["error"]["code"] == "schema_missing"
    assert "aftersale db upgrade" in done.stderr
    assert not missing.exists()


@pytest.mark.parametrize("command", ["show", "list"])
def test_policy_help_names_its_options(tmp_path: Path, command: str) -> None:
    done = _run(tmp_path, "policy", command, "--help")
    assert done.returncode == 0
    assert "--json" in done.stdout and "--config" in done.stdout
