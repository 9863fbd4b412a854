"""config/ is validated at load: a broken file names the file, the key and what is wrong."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from aftersale.config import default_config_dir, load_policy
from aftersale.errors import PolicyError


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
