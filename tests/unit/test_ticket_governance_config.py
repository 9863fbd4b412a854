"""config/governance.toml: the shipped defaults, a custom file, and broken ones refused naming
the dotted key."""

from __future__ import annotations

import shutil
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aftersale.config import default_config_dir
from aftersale.domain.tickets.breach import breach_tickets
from aftersale.errors import PolicyError
from aftersale.governance_config import load_governance, settings_from
from tests.unit.ticket_world import GOVERNANCE

METRICS = [
    "late_dispatch_rate",
    "chat_response_rate_24h",
    "unsatisfied_order_rate",
    "seller_fault_cancellation_rate",
    "seller_fault_return_refund_rate",
]


def shipped() -> dict[str, Any]:
    return tomllib.loads((default_config_dir() / "governance.toml").read_text(encoding="utf-8"))


def test_the_shipped_defaults_are_governance_md_s() -> None:
    g = GOVERNANCE
    assert (g.first_appeal_window, g.second_appeal_window) == (timedelta(30), timedelta(15))
    assert (g.reply_business_days, g.points_window) == (5, timedelta(90))
    assert [(m.points, m.kind, m.lasts) for m in g.milestones] == [
        (12, "campaign_ban", timedelta(7)),
        (24, "listing_restricted", timedelta(14)),
        (36, "traffic_restricted", timedelta(30)),
        (48, "clearance_notice", None),
    ]
    assert [
        (r.rule_id, r.metric, r.worse_than, r.min_denominator, r.category, r.points, r.cooldown)
        for r in g.breach_rules
    ] == [
        ("late_dispatch", "late_dispatch_rate", 0.04, 10, "fulfilment", 2, timedelta(7)),
        (
            "seller_fault_cancellation",
            "seller_fault_cancellation_rate",
            0.025,
            10,
            "fulfilment",
            2,
            timedelta(7),
        ),
        (
            "negative_reviews",
            "unsatisfied_order_rate",
            0.05,
            20,
            "negative_review",
            2,
            timedelta(7),
        ),
        (
            "seller_fault_returns",
            "seller_fault_return_refund_rate",
            0.05,
            20,
            "product",
            2,
            timedelta(7),
        ),
        ("slow_chat", "chat_response_rate_24h", 0.80, 10, "service", 1, timedelta(7)),
    ]
    assert g.version.startswith("governance-")


def test_a_custom_governance_toml_is_read_and_its_rules_apply(tmp_path: Path) -> None:
    for name in ("policy.toml", "timers.toml", "markets.toml", "reasons.toml", "health.toml"):
        shutil.copy(default_config_dir() / name, tmp_path / name)
    (tmp_path / "governance.toml").write_text(
        """
[appeals]
first_window = "10d"
second_window = "5d"
reply_business_days = 2
[points]
window = "30d"
[milestones.campaign_ban]
points = 5
lasts = "3d"
[breach_rules.chatty]
metric = "chat_response_rate_24h"
worse_than = 0.95
min_denominator = 3
category = "service"
points = 7
cooldown = "1d"
""",
        encoding="utf-8",
    )
    custom = load_governance(tmp_path)
    assert custom.first_appeal_window == timedelta(10) and custom.version != GOVERNANCE.version
    reading = {"value": 0.9, "denominator": 3, "direction": "higher_is_better", "examples": []}
    rep = {
        "shop_id": "shop-kiln",
        "dimensions": {"c": {"metrics": {"chat_response_rate_24h": reading}}},
    }
    at = datetime(2026, 5, 1, 4, tzinfo=UTC)
    (ticket,) = breach_tickets(rep, [], at, date(2026, 5, 1), custom)
    assert (ticket.ticket_id, ticket.points) == ("auto-chatty-shop-kiln-2026-05-01", 7)
    assert breach_tickets(rep, [], at, date(2026, 5, 1), GOVERNANCE) == []  # 0.9 > 0.80


def _broken(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = shipped()
    table = doc
    for key in path[:-1]:
        table = table[key]
    if value is None:
        del table[path[-1]]
    else:
        table[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("appeals", "first_window"), "30 days", "appeals.first_window"),
        (("appeals", "second_window"), None, "appeals.second_window"),
        (("appeals", "reply_business_days"), 0, "appeals.reply_business_days"),
        (("appeals", "reply_hours"), 5, "appeals.reply_hours"),
        (("points", "window"), 90, "points.window"),
        (("milestones", "campaign_ban", "points"), 0, "milestones.campaign_ban.points"),
        (("milestones", "campaign_ban", "lasts"), None, "milestones.campaign_ban.lasts"),
        (("milestones", "clearance_notice", "lasts"), "7d", "milestones.clearance_notice.lasts"),
        (
            ("milestones", "listing_restricted", "points"),
            12,
            "milestones.listing_restricted.points",
        ),
        (
            ("breach_rules", "late_dispatch", "worse_than"),
            1.5,
            "breach_rules.late_dispatch.worse_than",
        ),
        (
            ("breach_rules", "late_dispatch", "metric"),
            "late_rate",
            "breach_rules.late_dispatch.metric",
        ),
        (("breach_rules", "slow_chat", "category"), "chat", "breach_rules.slow_chat.category"),
        (("breach_rules", "slow_chat", "points"), 101, "breach_rules.slow_chat.points"),
        (("breach_rules", "slow_chat", "points"), True, "breach_rules.slow_chat.points"),
        (
            ("breach_rules", "slow_chat", "min_denominator"),
            -1,
            "breach_rules.slow_chat.min_denominator",
        ),
        (("breach_rules", "slow_chat", "cooldown"), None, "breach_rules.slow_chat.cooldown"),
        (("breach_rules", "slow_chat", "threshold"), 0.8, "breach_rules.slow_chat.threshold"),
        (("breach_rules", "slow:chat"), {}, "breach_rules.'slow:chat'"),
        (("punishments",), {}, "punishments"),
        (("appeals",), None, "appeals"),
    ],
)
def test_a_broken_governance_toml_is_refused_naming_the_key(
    path: tuple[str, ...], value: Any, key: str
) -> None:
    with pytest.raises(PolicyError) as refused:
        settings_from(_broken(path, value), METRICS)
    assert (refused.value.file, refused.value.key) == ("governance.toml", key)


def test_a_missing_governance_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"governance\.toml"):
        load_governance(tmp_path, METRICS)
