"""Hostile config edits: loading config/ gives a valid policy or a PolicyError, nothing else.

Each example takes the shipped documents (as tomllib reads them), replaces a random key with a
random TOML value of the wrong type, range or shape, adds random keys, or nests values deeply,
then builds the policy and the health settings from the result. A few go through real files,
so the reading side (bytes, syntax, depth) is covered as well.
"""

from __future__ import annotations

import copy
import math
import shutil
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from aftersale.config import POLICY_FILES, default_config_dir, load_policy, policy_from_document
from aftersale.domain.health.settings import HealthSettings
from aftersale.domain.model import Kind, State
from aftersale.domain.policy import MAX_WINDOW_DAYS, Policy
from aftersale.errors import PolicyError
from aftersale.health_config import load_health, settings_from

FILES = (*POLICY_FILES, "health.toml")
SHIPPED = {name: tomllib.loads((default_config_dir() / name).read_text()) for name in FILES}
BOUNDED = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["48h", "0h", "-1d", f"{10**30}h", "3651d", "3650d", "1e9", "nan", "US", "", "seller"]
    ),
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 10**30, 3650, 3651, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
    st.times(),
)
TOML_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and list index under ``node``, as paths from it."""
    children: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    out: list[tuple[Any, ...]] = []
    for key, child in children:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


PATHS = [(name, *path) for name in FILES for path in [(), *_paths(SHIPPED[name])]]


def _parent(document: dict[str, Any], path: tuple[Any, ...]) -> Any:
    node: Any = document
    for step in path[:-1]:
        node = node[step]
    return node


def _build(document: dict[str, Any]) -> tuple[Policy, HealthSettings] | None:
    """The policy and settings of ``document``, or None when it was refused as it should be."""
    try:
        policy = policy_from_document({name: document.get(name) for name in POLICY_FILES})
        health = settings_from(document.get("health.toml"))
    except PolicyError as refused:
        assert refused.file in FILES, refused.file
        assert refused.key, refused
        assert str(refused).startswith(f"{refused.file}: {refused.key}: ")
        return None
    return policy, health


def _valid(policy: Policy, health: HealthSettings) -> None:
    """What a loaded policy promises: every window bounded, every weight a real fraction."""
    longest = timedelta(days=MAX_WINDOW_DAYS)
    windows = [policy.free_cancel_window, *policy.timers.values()]
    windows += [w for by_kind in policy.market_timers.values() for w in by_kind.values()]
    windows += [market.return_window for market in policy.markets.values()]
    assert all(timedelta(0) < window <= longest for window in windows)
    assert 0 < policy.high_value_review_business_days <= MAX_WINDOW_DAYS
    far = datetime(2100, 1, 1, tzinfo=UTC)
    for code, market in policy.markets.items():
        for kind, state in policy.timers:
            deadline = policy.deadline(kind, state, code, market.high_value_threshold, far)
            assert deadline is not None and far < deadline <= far + longest
        high = market.high_value_threshold * 2
        assert policy.deadline(Kind.refund_only, State.pending_review, code, high, far)
    assert all(0 <= w <= 1 and math.isfinite(w) for w in health.dimension_weights.values())
    assert math.isclose(sum(health.dimension_weights.values()), 1)
    for spec in health.metrics:
        assert 1 <= spec.window_days <= MAX_WINDOW_DAYS
        for value in (None, 0.0, 0.5, 1.0):
            assert 0 <= spec.points(value) <= 5
    assert health.tier(0.0) is not None and health.tier(5.0) is not None


def _fresh() -> dict[str, Any]:
    return copy.deepcopy(SHIPPED)


def test_the_shipped_config_is_valid_under_the_same_promises() -> None:
    built = _build(_fresh())
    assert built is not None
    _valid(*built)


@BOUNDED
@given(path=st.sampled_from(PATHS), value=TOML_VALUES)
def test_any_value_replaced_by_any_other_loads_or_is_a_policy_error(
    path: tuple[Any, ...], value: Any
) -> None:
    document = _fresh()
    _parent(document, path)[path[-1]] = value
    if (built := _build(document)) is not None:
        _valid(*built)


@BOUNDED
@given(path=st.sampled_from(PATHS), key=TEXT, value=TOML_VALUES)
def test_an_extra_key_anywhere_loads_or_is_a_policy_error(
    path: tuple[Any, ...], key: str, value: Any
) -> None:
    document = _fresh()
    table = _parent(document, path)
    if not isinstance(table, dict) or key in table:
        return
    table[key] = value
    if (built := _build(document)) is not None:  # a new reason code or metric may be valid
        _valid(*built)


@BOUNDED
@given(
    path=st.sampled_from(PATHS), depth=st.integers(1, 400), wrap=st.sampled_from(["list", "table"])
)
def test_a_value_nested_deeply_is_refused_cleanly(
    path: tuple[Any, ...], depth: int, wrap: str
) -> None:
    document = _fresh()
    parent = _parent(document, path)
    value = parent[path[-1]]
    for _ in range(depth):
        value = [value] if wrap == "list" else {"x": value}
    parent[path[-1]] = value
    if (built := _build(document)) is not None:
        _valid(*built)


@BOUNDED
@given(path=st.sampled_from(PATHS), drop=st.booleans())
def test_a_key_removed_or_emptied_loads_or_is_a_policy_error(
    path: tuple[Any, ...], drop: bool
) -> None:
    document = _fresh()
    parent = _parent(document, path)
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = type(parent[path[-1]])()
    if (built := _build(document)) is not None:
        _valid(*built)


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("abuse") / "config"
    shutil.copytree(default_config_dir(), folder)
    return folder


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(FILES),
    cut=st.floats(0, 1),
    junk=st.one_of(
        st.binary(max_size=40),
        st.sampled_from(
            [b"\xff\xfe", b"[", b"]]", b"x = " + b"[" * 5000, b"= 1", b"\x00", b"a = 1\na = 2"]
        ),
        st.integers(1, 2000).map(lambda n: b"deep = " + b"[" * n + b"]" * n),
    ),
)
def test_bytes_spliced_into_a_file_load_or_are_a_policy_error(
    shipped_copy: Path, name: str, cut: float, junk: bytes
) -> None:
    path = shipped_copy / name
    original = (default_config_dir() / name).read_bytes()
    at = int(len(original) * cut)
    at = original.rfind(b"\n", 0, at) + 1  # at a line start, so keys stay well-formed
    path.write_bytes(original[:at] + junk + b"\n" + original[at:])
    try:
        load_policy(shipped_copy)
        load_health(shipped_copy)
    except PolicyError as refused:
        assert refused.file in FILES
    finally:
        path.write_bytes(original)
