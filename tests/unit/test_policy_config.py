"""config/ is validated at load: a broken file names the file, the key and what is wrong."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from aftersale.config import default_config_dir, load_policy
from aftersale.domain.model import Kind, State
from aftersale.errors import PolicyError
from aftersale.health_config import load_health


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(default_config_dir(), folder)
    return folder


def _edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_policy_loads_with_every_required_list() -> None:
    policy = load_policy()
    assert len(policy.reject_reasons) >= 20
    assert policy.reject_reasons_needing_note == {"other"}
    assert policy.buyer_reasons["not_received"].value == "logistics"
    assert policy.seller_cancellation_reasons["buyer_requested"].value == "buyer"
    assert policy.market("MY").return_window.days == 30
    assert "chat" in policy.market("MY").evidence_kinds
    assert "chat" not in policy.market("US").evidence_kinds


BREAKAGES: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("missing file", lambda f: (f / "timers.toml").unlink(), "timers.toml", "(file)"),
    (
        "syntax",
        lambda f: _edit(f, "reasons.toml", "[buyer]", "[buyer"),
        "reasons.toml",
        "(syntax)",
    ),
    (
        "unknown time zone",
        lambda f: _edit(f, "markets.toml", '"America/New_York"', '"America/Gotham"'),
        "markets.toml",
        "US.timezone",
    ),
    (
        "bad duration",
        lambda f: _edit(f, "timers.toml", 'awaiting_pod = "24h"', 'awaiting_pod = "1 day"'),
        "timers.toml",
        "refund_only.awaiting_pod",
    ),
    (
        "timed state missing",
        lambda f: _edit(f, "timers.toml", 'awaiting_pod = "24h"', ""),
        "timers.toml",
        "refund_only.awaiting_pod",
    ),
    (
        "no offers at all",
        lambda f: _edit(f, "timers.toml", "max_offers = 3", "max_offers = 0"),
        "timers.toml",
        "offers.max_offers",
    ),
    (
        "offers as text",
        lambda f: _edit(f, "timers.toml", "max_offers = 3", 'max_offers = "3"'),
        "timers.toml",
        "offers.max_offers",
    ),
    (
        "a misspelt offers key",
        lambda f: _edit(f, "timers.toml", "max_offers = 3", "max_offer = 3"),
        "timers.toml",
        "offers.max_offer",
    ),
    (
        "bad offer window",
        lambda f: _edit(
            f, "timers.toml", 'awaiting_buyer_response = "24h"', 'awaiting_buyer_response = "0h"'
        ),
        "timers.toml",
        "refund_only.awaiting_buyer_response",
    ),
    (
        "unknown responsibility",
        lambda f: _edit(f, "reasons.toml", 'damaged = "seller"', 'damaged = "courier"'),
        "reasons.toml",
        "buyer.damaged",
    ),
    (
        "unknown holiday calendar",
        lambda f: _edit(f, "markets.toml", 'holidays = "TH"', 'holidays = "XX"'),
        "markets.toml",
        "TH.holidays",
    ),
    (
        "threshold as a number",
        lambda f: _edit(f, "markets.toml", '"80.00"', "80"),
        "markets.toml",
        "UK.high_value_threshold",
    ),
]


@pytest.mark.parametrize(
    ("breakage", "file", "key"),
    [(b[1], b[2], b[3]) for b in BREAKAGES],
    ids=[b[0] for b in BREAKAGES],
)
def test_a_broken_policy_file_is_refused_naming_file_and_key(
    config: Path, breakage: Callable[[Path], None], file: str, key: str
) -> None:
    breakage(config)
    with pytest.raises(PolicyError) as refused:
        load_policy(config)
    assert (refused.value.file, refused.value.key) == (file, key)
    assert str(refused.value).startswith(f"{file}: {key}: ")


def test_offers_are_policy_pinned_and_default_for_policies_stored_before_them(
    config: Path,
) -> None:
    _edit(config, "timers.toml", "max_offers = 3", "max_offers = 1")
    assert load_policy(config).max_offers == 1
    # a policy written before offers existed: neither key, the spec's 24 hours and 3 offers
    text = (config / "timers.toml").read_text(encoding="utf-8")
    text = text.replace("max_offers = 1", "").replace("[offers]", "")
    text = "\n".join(line for line in text.splitlines() if "awaiting_buyer_response" not in line)
    (config / "timers.toml").write_text(text, encoding="utf-8")
    old = load_policy(config)
    assert old.max_offers == 3
    assert old.timers[(Kind.refund_only, State.awaiting_buyer_response)] == timedelta(hours=24)


def test_fewer_than_twenty_reject_codes_are_refused(config: Path) -> None:
    path = config / "reasons.toml"
    text = path.read_text(encoding="utf-8")
    start = text.index("codes = [")
    end = text.index("]", start)
    path.write_text(text[:start] + 'codes = ["item_used", "other"' + text[end:], encoding="utf-8")
    with pytest.raises(PolicyError, match=r"reject\.codes: needs at least 20"):
        load_policy(config)


def test_the_version_changes_with_any_value_and_only_then(config: Path) -> None:
    assert load_policy(config).version == load_policy().version
    _edit(config, "timers.toml", 'rejected = "48h"', 'rejected = "72h"')
    changed = load_policy(config)
    assert changed.version != load_policy().version
    assert changed.version.startswith("default-")


def _prepend(folder: Path, name: str, line: str) -> None:
    """A top-level key goes before the first table."""
    path = folder / name
    path.write_text(line + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")


def _replace_file(folder: Path, name: str, content: bytes | None) -> None:
    """``name`` as the given bytes, or as a directory when ``content`` is None."""
    path = folder / name
    path.unlink()
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)


PRIVILEGES = """[privileges]
excellent = ["campaigns", "badge"]
good = ["campaigns"]
fair = ["campaigns"]
poor = []
"""
DEEP = "[" * 100_000 + "]" * 100_000
# (what outside testing did, the edit, the file and dotted key named, words the message holds)
BROKEN_EDITS: list[tuple[str, Callable[[Path], None], str, str, str]] = [
    (
        "timer of 10**30 hours",
        lambda f: _edit(
            f, "timers.toml", 'pending_review = "48h"', f'pending_review = "{10**30}h"'
        ),
        "timers.toml",
        "cancellation.pending_review",
        "at most 3650 days",
    ),
    (
        "timer past year 9999 from today",
        lambda f: _edit(f, "timers.toml", 'awaiting_pod = "24h"', 'awaiting_pod = "3000000d"'),
        "timers.toml",
        "refund_only.awaiting_pod",
        "at most 3650 days",
    ),
    (
        "return window of 10**30 days",
        lambda f: _edit(
            f, "markets.toml", "return_window_days = 30", f"return_window_days = {10**30}"
        ),
        "markets.toml",
        "MY.return_window_days",
        "from 1 to 3650",
    ),
    (
        "billion business days of review",
        lambda f: _edit(
            f,
            "timers.toml",
            "review_business_days = 4",
            f"review_business_days = {10**9}",
        ),
        "timers.toml",
        "high_value.review_business_days",
        "from 1 to 3650",
    ),
    (
        "metric window of 10**30 days",
        lambda f: _edit(f, "health.toml", "window_days = 60", f"window_days = {10**30}"),
        "health.toml",
        "metrics.unsatisfied_order_rate.window_days",
        "from 1 to 3650",
    ),
    (
        "table as a responsibility",
        lambda f: _edit(f, "reasons.toml", 'damaged = "seller"', 'damaged = { who = "seller" }'),
        "reasons.toml",
        "buyer.damaged",
        "must be one of",
    ),
    (
        "table as a metric kind",
        lambda f: _edit(
            f, "health.toml", '\nkind = "complaint"', "\nkind = { name = 'complaint' }"
        ),
        "health.toml",
        "metrics.complaint_rate.kind",
        "must be one of",
    ),
    (
        "string as the overrides table",
        lambda f: (
            _edit(f, "timers.toml", "\n[overrides]", ""),
            _prepend(f, "timers.toml", 'overrides = "none"'),
        ),
        "timers.toml",
        "overrides",
        "must be a table",
    ),
    (
        "string as the privileges table",
        lambda f: (
            _edit(f, "health.toml", PRIVILEGES, ""),
            _prepend(f, "health.toml", 'privileges = "all"'),
        ),
        "health.toml",
        "privileges",
        "must be a table",
    ),
    (
        "string as a dimension table",
        lambda f: (
            _edit(f, "health.toml", "[dimensions.fulfilment]\nweight = 0.40", ""),
            _edit(
                f,
                "health.toml",
                "[dimensions.product_satisfaction]",
                '[dimensions]\nfulfilment = "heavy"\n[dimensions.product_satisfaction]',
            ),
        ),
        "health.toml",
        "dimensions.fulfilment",
        "must be a table",
    ),
    (
        "non-UTF-8 file",
        lambda f: _replace_file(f, "markets.toml", b'[US]\ntimezone = "\xff\xfe"\n'),
        "markets.toml",
        "(file)",
        "UTF-8",
    ),
    (
        "directory as a file",
        lambda f: _replace_file(f, "reasons.toml", None),
        "reasons.toml",
        "(file)",
        "directory",
    ),
    (
        "100,000-deep nested arrays",
        lambda f: _edit(f, "policy.toml", 'name = "default"', "name = " + DEEP),
        "policy.toml",
        "(syntax)",
        "nested",
    ),
    (
        "tier of the wrong shape",
        lambda f: _edit(f, "health.toml", '["fair", 3.0]', '["fair"]'),
        "health.toml",
        "score.tiers",
        "[name, floor]",
    ),
    (
        "tier floor as text",
        lambda f: _edit(f, "health.toml", '["fair", 3.0]', '["fair", "three"]'),
        "health.toml",
        "score.tiers",
        "[name, floor]",
    ),
    (
        "band of the wrong shape",
        lambda f: _edit(f, "health.toml", "[0.012, 4.0]", '["low", 4.0]'),
        "health.toml",
        "metrics.unsatisfied_order_rate.bands",
        "[value, points]",
    ),
    (
        "weight = nan",
        lambda f: _edit(f, "health.toml", "weight = 0.20", "weight = nan"),
        "health.toml",
        "dimensions.customer_service.weight",
        "from 0 to 1",
    ),
    (
        "weights inf and -inf",
        lambda f: (
            _edit(f, "health.toml", "weight = 0.40", "weight = inf"),
            _edit(f, "health.toml", "weight = 0.40", "weight = -inf"),
        ),
        "health.toml",
        "dimensions.product_satisfaction.weight",
        "from 0 to 1",
    ),
    (
        "negative weight that still adds up to 1",
        lambda f: (
            _edit(f, "health.toml", "weight = 0.40", "weight = 0.60"),
            _edit(f, "health.toml", "weight = 0.40", "weight = 0.60"),
            _edit(f, "health.toml", "weight = 0.20", "weight = -0.20"),
        ),
        "health.toml",
        "dimensions.customer_service.weight",
        "from 0 to 1",
    ),
    (
        "override for an unknown market",
        lambda f: _edit(
            f, "timers.toml", "\n[overrides]", '\n[overrides.XX.return_refund]\nrejected = "72h"'
        ),
        "timers.toml",
        "overrides.XX",
        "US, UK, MY, TH",
    ),
    (
        "misspelt market key",
        lambda f: _edit(f, "markets.toml", "return_window_days = 30", "return_window_dayz = 30"),
        "markets.toml",
        "MY.return_window_dayz",
        "return_window_days",
    ),
    (
        "unknown key in policy.toml",
        lambda f: _edit(f, "policy.toml", 'name = "default"', 'name = "default"\nowner = "ops"'),
        "policy.toml",
        "owner",
        "allowed: name",
    ),
    (
        "unknown table in health.toml",
        lambda f: _edit(f, "health.toml", "[alerts]", "[alert]\nx = 1\n[alerts]"),
        "health.toml",
        "alert",
        "alerts",
    ),
    (
        "unknown metric parameter",
        lambda f: _edit(f, "health.toml", "max_rating = 2", "max_rating = 2\nmin_rating = 1"),
        "health.toml",
        "metrics.unsatisfied_order_rate.min_rating",
        "exclude_topics",
    ),
    (
        "bad holiday subdivision",
        lambda f: _edit(
            f, "markets.toml", 'holiday_subdivision = "ENG"', 'holiday_subdivision = "ZZZ"'
        ),
        "markets.toml",
        "UK.holiday_subdivision",
        "ZZZ",
    ),
    (
        "a date in health.toml",
        lambda f: _edit(f, "health.toml", "start = 100", "start = 2026-01-01"),
        "health.toml",
        "compliance.start",
        "whole number",
    ),
    (
        "privileges of an unknown tier",
        lambda f: _edit(f, "health.toml", "poor = []", "poor = []\nawful = []"),
        "health.toml",
        "privileges.awful",
        "excellent, good, fair, poor",
    ),
    (
        "max rating as text",
        lambda f: _edit(f, "health.toml", "max_rating = 2", 'max_rating = "two"'),
        "health.toml",
        "metrics.unsatisfied_order_rate.max_rating",
        "from 1 to 5",
    ),
]


def _load_everything(folder: Path) -> None:
    load_policy(folder)
    load_health(folder)


@pytest.mark.parametrize(
    ("edit", "file", "key", "words"),
    [b[1:] for b in BROKEN_EDITS],
    ids=[b[0] for b in BROKEN_EDITS],
)
def test_a_broken_edit_is_a_policy_error_naming_file_and_key_never_a_crash(
    config: Path, edit: Callable[[Path], None], file: str, key: str, words: str
) -> None:
    edit(config)
    with pytest.raises(PolicyError) as refused:
        _load_everything(config)
    assert (refused.value.file, refused.value.key) == (file, key)
    assert str(refused.value).startswith(f"{file}: {key}: ")
    assert words in refused.value.problem


def test_the_command_line_exits_2_naming_the_key_without_a_traceback(
    config: Path, tmp_path: Path
) -> None:
    _edit(config, "health.toml", "weight = 0.20", "weight = nan")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aftersale",
            "db",
            "upgrade",
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "health.toml: dimensions.customer_service.weight: " in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
