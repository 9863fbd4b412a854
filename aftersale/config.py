"""Load the policy in config/ into a frozen :class:`~aftersale.domain.policy.Policy`.

A policy is read from TOML files into one plain *document* (a dict per file). The document is
what gets pinned: it is stored in the database under the policy version, and a case opened under
an older version is rebuilt from its stored document, so editing config/ never moves an open
case's deadlines. Every fault names the file, the key and what is wrong (the checks are in
:mod:`aftersale.config_checks`); unknown keys are refused, every value is typed and bounded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aftersale import config_checks as check
from aftersale.config_checks import Key
from aftersale.config_markets import markets_from
from aftersale.domain.model import Kind, Responsibility, State
from aftersale.domain.policy import MAX_WINDOW_DAYS, Market, Policy
from aftersale.domain.validation import MAX_NOTE_LENGTH
from aftersale.domain.workflows import WORKFLOWS
from aftersale.errors import PolicyError

POLICY_FILES = ("policy.toml", "timers.toml", "markets.toml", "reasons.toml")
Document = dict[str, dict[str, Any]]
Timers = dict[tuple[Kind, State], timedelta]
NAME = r"[A-Za-z0-9_.-]{1,40}"


def default_config_dir() -> Path:
    """config/ of a source checkout, else the copy shipped inside the wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "config", package / "default_config"):
        if (candidate / "policy.toml").is_file():
            return candidate
    raise PolicyError("config", "(directory)", "no policy found; pass --config DIR")


def read_document(config_dir: Path | None = None) -> Document:
    folder = config_dir or default_config_dir()
    return {name: check.read_toml(folder, name) for name in POLICY_FILES}


def load_policy(config_dir: Path | None = None) -> Policy:
    return policy_from_document(read_document(config_dir))


def policy_version(document: Mapping[str, Any]) -> str:
    name = document.get("policy.toml", {}).get("name", "policy")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return f"{name}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def policy_from_document(document: Mapping[str, Any]) -> Policy:
    """The policy of a document (read from config/ or stored); the version is hashed last,
    once every value is known to be valid."""
    file = Key("policy.toml")
    policy_doc = check.table(document.get("policy.toml"), file, ("name",))
    check.text(
        policy_doc.get("name"), file / "name", NAME, "1-40 letters, digits, '.', '_' or '-'"
    )
    reasons = _reasons(check.table(document.get("reasons.toml"), Key("reasons.toml"), REASONS))
    markets = markets_from(document.get("markets.toml"), reasons.evidence_kinds)
    timers_doc = check.table(document.get("timers.toml"), Key("timers.toml"), TIMER_TABLES)
    timers = _timers(timers_doc)
    where = Key("timers.toml") / "cancellation" / "free_cancel_window"
    free_cancel_window = check.duration(
        timers_doc["cancellation"].get("free_cancel_window"), where
    )
    market_timers = _overrides(timers_doc.get("overrides"), markets)
    high_value = check.fields(
        timers_doc.get("high_value"), Key("timers.toml") / "high_value", HIGH_VALUE
    )
    offers = check.fields(timers_doc.get("offers", {}), Key("timers.toml") / "offers", OFFERS)
    return Policy(
        version=policy_version(document),
        max_offers=offers["max_offers"],
        free_cancel_window=free_cancel_window,
        timers=timers,
        market_timers=market_timers,
        high_value_review_business_days=high_value["review_business_days"],
        markets=markets,
        buyer_reasons=reasons.buyer,
        seller_cancellation_reasons=reasons.seller_cancellation,
        reasons_needing_unused_item=reasons.needing_unused_item,
        reject_reasons=reasons.reject,
        reject_reasons_needing_note=reasons.reject_needing_note,
        reject_note_max_length=reasons.note_max_length,
        evidence_kinds=reasons.evidence_kinds,
    )


# -- timers.toml -------------------------------------------------------------------------------

TIMER_TABLES = (*(kind.value for kind in WORKFLOWS), "high_value", "offers", "overrides")
# A policy stored before partial-refund offers existed (lines.md) has neither of these: the
# cases pinned to it get the spec's defaults, and its version (hashed from the stored
# document) stays what it was.
OFFER_WINDOW_DEFAULT = "24h"
MAX_OFFERS_DEFAULT = 3
OFFERS: dict[str, check.Check] = {
    "max_offers": check.optional(
        lambda raw, where: check.whole(raw, where, 1, 100, " (offers per case)"),
        MAX_OFFERS_DEFAULT,
    )
}
HIGH_VALUE: dict[str, check.Check] = {
    "review_business_days": lambda raw, where: check.whole(
        raw, where, 1, MAX_WINDOW_DAYS, " (business days)"
    )
}


def _timed_states(kind: Kind) -> list[str]:
    return [state.value for state in WORKFLOWS[kind].timeouts]


def _timers(doc: Mapping[str, Any]) -> Timers:
    timers: Timers = {}
    for kind in WORKFLOWS:
        extra = ["free_cancel_window"] if kind is Kind.cancellation else []
        where = Key("timers.toml") / kind.value
        table = check.table(doc.get(kind.value), where, _timed_states(kind) + extra)
        for state in WORKFLOWS[kind].timeouts:
            raw = table.get(state.value)
            if raw is None and state is State.awaiting_buyer_response:
                raw = OFFER_WINDOW_DEFAULT
            timers[(kind, state)] = check.duration(raw, where / state.value)
    return timers


def _overrides(raw: Any, markets: Mapping[str, Market]) -> dict[str, Timers]:
    """Per-market timers replacing single entries: [overrides.MARKET.KIND] STATE = "5d"."""
    where = Key("timers.toml") / "overrides"
    overrides: dict[str, Timers] = {}
    for market, by_kind in check.table(raw, where, markets, optional=True).items():
        kinds = check.table(by_kind, where / market, [kind.value for kind in WORKFLOWS])
        for kind_name, states in kinds.items():
            kind, at = Kind(kind_name), where / market / kind_name
            for state, window in check.table(states, at, _timed_states(kind)).items():
                overrides.setdefault(market, {})[(kind, State(state))] = check.duration(
                    window, at / state
                )
    return overrides


# -- reasons.toml ------------------------------------------------------------------------------

REASONS = ("buyer", "buyer_rules", "seller_cancellation", "reject", "evidence")


@dataclass(frozen=True)
class _Reasons:
    buyer: dict[str, Responsibility]
    needing_unused_item: frozenset[str]
    seller_cancellation: dict[str, Responsibility]
    reject: frozenset[str]
    reject_needing_note: frozenset[str]
    note_max_length: int
    evidence_kinds: frozenset[str]


def _reasons(doc: Mapping[str, Any]) -> _Reasons:
    file = Key("reasons.toml")
    buyer = _responsibilities(doc.get("buyer"), file / "buyer")
    rules = check.fields(
        doc.get("buyer_rules"),
        file / "buyer_rules",
        {"needs_unused_item": lambda raw, where: check.codes(raw, where, buyer)},
    )
    reject = check.fields(doc.get("reject"), file / "reject", REJECT)
    evidence = check.fields(doc.get("evidence"), file / "evidence", {"kinds": check.codes})
    return _Reasons(
        buyer=buyer,
        needing_unused_item=frozenset(rules["needs_unused_item"]),
        seller_cancellation=_responsibilities(
            doc.get("seller_cancellation"), file / "seller_cancellation"
        ),
        reject=frozenset(reject["codes"]),
        reject_needing_note=frozenset(
            check.codes(reject["needs_note"], file / "reject" / "needs_note", reject["codes"])
        ),
        note_max_length=reject["note_max_length"],
        evidence_kinds=frozenset(evidence["kinds"]),
    )


def _reject_codes(raw: Any, where: Key) -> list[str]:
    codes = check.codes(raw, where)
    if len(set(codes)) < 20:
        where.refuse("needs at least 20 distinct codes")
    return codes


REJECT: dict[str, check.Check] = {
    "codes": _reject_codes,
    "needs_note": check.codes,
    "note_max_length": lambda raw, where: check.whole(
        raw, where, 1, MAX_NOTE_LENGTH, " (characters)"
    ),
}


def _responsibilities(raw: Any, where: Key) -> dict[str, Responsibility]:
    out: dict[str, Responsibility] = {}
    for code, who in check.table(raw, where).items():
        check.code(code, where / code)
        out[code] = Responsibility(check.choice(who, where / code, Responsibility))
    if not out:
        where.refuse("defines no reason")
    return out
