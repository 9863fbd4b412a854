"""Load the policy in config/ into a frozen :class:`~aftersale.domain.policy.Policy`.

A policy is read from TOML files into one plain *document* (a dict per file). The document is
what gets pinned: it is stored in the database under the policy version, and a case opened under
an older version is rebuilt from its stored document, so editing config/ never moves an open
case's deadlines. Every fault names the file, the key and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from aftersale.domain.model import Kind, Responsibility, State
from aftersale.domain.policy import Market, Policy
from aftersale.domain.workflows import WORKFLOWS
from aftersale.errors import PolicyError

POLICY_FILES = ("policy.toml", "timers.toml", "markets.toml", "reasons.toml")
Document = dict[str, dict[str, Any]]
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def default_config_dir() -> Path:
    """config/ of a source checkout, else the copy shipped inside the wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "config", package / "default_config"):
        if (candidate / "policy.toml").is_file():
            return candidate
    raise PolicyError("config", "(directory)", "no policy found; pass --config DIR")


def read_document(config_dir: Path | None = None) -> Document:
    folder = config_dir or default_config_dir()
    document: Document = {}
    for name in POLICY_FILES:
        path = folder / name
        try:
            document[name] = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PolicyError(name, "(file)", f"missing from {folder.name}/") from None
        except tomllib.TOMLDecodeError as error:
            raise PolicyError(name, "(syntax)", str(error)) from None
    return document


def load_policy(config_dir: Path | None = None) -> Policy:
    return policy_from_document(read_document(config_dir))


def policy_version(document: Mapping[str, Any]) -> str:
    name = document.get("policy.toml", {}).get("name", "policy")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return f"{name}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def policy_from_document(document: Mapping[str, Any]) -> Policy:
    policy_doc = _table(document, "policy.toml", "(file)")
    name = policy_doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
        raise PolicyError("policy.toml", "name", "must be 1-40 letters, digits, '.', '_' or '-'")
    timers_doc = _table(document, "timers.toml", "(file)")
    reasons_doc = _table(document, "reasons.toml", "(file)")
    evidence_kinds = frozenset(_strings(reasons_doc, "reasons.toml", "evidence", "kinds"))
    timers, market_timers = _timers(timers_doc)
    return Policy(
        version=policy_version(document),
        free_cancel_window=_duration(
            _table(timers_doc, "timers.toml", "cancellation"),
            "timers.toml",
            "cancellation.free_cancel_window",
        ),
        timers=timers,
        market_timers=market_timers,
        high_value_review_business_days=_positive_int(
            _table(timers_doc, "timers.toml", "high_value").get("review_business_days"),
            "timers.toml",
            "high_value.review_business_days",
        ),
        markets=_markets(_table(document, "markets.toml", "(file)"), evidence_kinds),
        buyer_reasons=_responsibilities(reasons_doc, "buyer"),
        seller_cancellation_reasons=_responsibilities(reasons_doc, "seller_cancellation"),
        reasons_needing_unused_item=frozenset(
            _strings(reasons_doc, "reasons.toml", "buyer_rules", "needs_unused_item")
        ),
        reject_reasons=_reject_codes(reasons_doc),
        reject_reasons_needing_note=frozenset(
            _strings(reasons_doc, "reasons.toml", "reject", "needs_note")
        ),
        reject_note_max_length=_positive_int(
            _table(reasons_doc, "reasons.toml", "reject").get("note_max_length"),
            "reasons.toml",
            "reject.note_max_length",
        ),
        evidence_kinds=evidence_kinds,
    )


def _table(doc: Mapping[str, Any], file: str, key: str) -> dict[str, Any]:
    value = doc.get(key) if key != "(file)" else doc.get(file)
    if not isinstance(value, dict):
        raise PolicyError(file, key, "missing table" if value is None else "must be a table")
    return value


def _duration(table: Mapping[str, Any], file: str, key: str) -> timedelta:
    raw = table.get(key.rsplit(".", 1)[-1])
    match = _DURATION.match(raw) if isinstance(raw, str) else None
    if match is None or int(match.group(1)) == 0:
        shown = "missing" if raw is None else f"{raw!r} is not"
        raise PolicyError(file, key, f"{shown} a positive duration like '90s', '30m', '48h', '5d'")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _positive_int(raw: Any, file: str, key: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
        raise PolicyError(file, key, f"must be a positive whole number, not {raw!r}")
    return raw


def _strings(doc: Mapping[str, Any], file: str, table: str, key: str) -> list[str]:
    raw = _table(doc, file, table).get(key)
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise PolicyError(file, f"{table}.{key}", "must be a list of non-empty strings")
    return raw


def _timers(
    doc: Mapping[str, Any],
) -> tuple[dict[tuple[Kind, State], timedelta], dict[str, dict[tuple[Kind, State], timedelta]]]:
    timers: dict[tuple[Kind, State], timedelta] = {}
    for kind, workflow in WORKFLOWS.items():
        table = _table(doc, "timers.toml", kind.value)
        known = {state.value for state in workflow.timeouts} | {"free_cancel_window"}
        for key in table:
            if key not in known:
                raise PolicyError(
                    "timers.toml", f"{kind}.{key}", "is not a timed state of " + kind
                )
        for state in workflow.timeouts:
            timers[(kind, state)] = _duration(table, "timers.toml", f"{kind}.{state}")
    overrides: dict[str, dict[tuple[Kind, State], timedelta]] = {}
    for market, by_kind in doc.get("overrides", {}).items():
        for kind_name, table in by_kind.items():
            if kind_name not in Kind.__members__:
                raise PolicyError("timers.toml", f"overrides.{market}.{kind_name}", "unknown kind")
            kind = Kind(kind_name)
            for state_name in table:
                if (kind, state_name) not in {(k, s.value) for k, s in timers}:
                    key = f"overrides.{market}.{kind}.{state_name}"
                    raise PolicyError("timers.toml", key, "is not a timed state")
                key = f"overrides.{market}.{kind}.{state_name}"
                window = _duration(table, "timers.toml", key)
                overrides.setdefault(market, {})[(kind, State(state_name))] = window
    return timers, overrides


def _markets(doc: Mapping[str, Any], evidence_kinds: frozenset[str]) -> dict[str, Market]:
    markets: dict[str, Market] = {}
    for code, table in doc.items():
        where = f"{code}."
        if not isinstance(table, dict) or not re.fullmatch(r"[A-Z]{2,3}", code):
            raise PolicyError("markets.toml", code, "must be a table named by a market code")
        try:
            zone = ZoneInfo(str(table.get("timezone")))
        except (ZoneInfoNotFoundError, ValueError):
            raise PolicyError("markets.toml", where + "timezone", "unknown time zone") from None
        currency = table.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            raise PolicyError("markets.toml", where + "currency", "must be an ISO 4217 code")
        decimals = table.get("currency_decimals")
        if not isinstance(decimals, int) or not 0 <= decimals <= 4:
            raise PolicyError("markets.toml", where + "currency_decimals", "must be 0 to 4")
        kinds = frozenset(_strings(doc, "markets.toml", code, "evidence_kinds"))
        if not kinds <= evidence_kinds:
            unknown = ", ".join(sorted(kinds - evidence_kinds))
            raise PolicyError("markets.toml", where + "evidence_kinds", f"unknown kind {unknown}")
        markets[code] = Market(
            code=code,
            timezone=zone,
            currency=currency,
            currency_decimals=decimals,
            high_value_threshold=_amount(table.get("high_value_threshold"), where),
            return_window=timedelta(
                days=_positive_int(
                    table.get("return_window_days"), "markets.toml", where + "return_window_days"
                )
            ),
            evidence_kinds=kinds,
            is_holiday=_calendar(
                str(table.get("holidays", "")), str(table.get("holiday_subdivision", "")), where
            ),
        )
    if not markets:
        raise PolicyError("markets.toml", "(file)", "defines no market")
    return markets


def _amount(raw: Any, where: str) -> Decimal:
    try:
        value = Decimal(raw) if isinstance(raw, str) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        raise PolicyError(
            "markets.toml", where + "high_value_threshold", "must be a positive decimal string"
        )
    return value


def _calendar(country: str, subdivision: str, where: str) -> Any:
    if not country:
        return lambda day: False
    try:
        return _holiday_lookup(country, subdivision or None)
    except NotImplementedError:
        raise PolicyError(
            "markets.toml", where + "holidays", f"no public-holiday calendar for {country!r}"
        ) from None


@cache
def _holiday_lookup(country: str, subdivision: str | None) -> Any:
    calendar = holidays.country_holidays(country, subdiv=subdivision)

    def is_holiday(day: date) -> bool:
        return day in calendar

    return is_holiday


def _responsibilities(doc: Mapping[str, Any], table: str) -> dict[str, Responsibility]:
    out: dict[str, Responsibility] = {}
    for code, who in _table(doc, "reasons.toml", table).items():
        if who not in Responsibility.__members__:
            allowed = ", ".join(Responsibility)
            raise PolicyError("reasons.toml", f"{table}.{code}", f"must be one of {allowed}")
        out[code] = Responsibility(who)
    if not out:
        raise PolicyError("reasons.toml", table, "defines no reason")
    return out


def _reject_codes(doc: Mapping[str, Any]) -> frozenset[str]:
    codes = _strings(doc, "reasons.toml", "reject", "codes")
    if len(set(codes)) < 20:
        raise PolicyError("reasons.toml", "reject.codes", "needs at least 20 distinct codes")
    return frozenset(codes)
