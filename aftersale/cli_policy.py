"""``aftersale policy``: the policy in force (``show``) and the versions cases are pinned to
(``list``).

``show`` renders what the loaded :class:`~aftersale.domain.policy.Policy` and
:class:`~aftersale.domain.health.settings.HealthSettings` hold, not the TOML they came from:
what the engine will do is what is printed. Durations are seconds in the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from aftersale import render
from aftersale.cli_options import config_option, db_option, json_option, operator_engine
from aftersale.clock import SystemClock
from aftersale.config import default_config_dir, load_policy
from aftersale.domain.health.settings import HealthSettings
from aftersale.domain.policy import Market, Policy
from aftersale.domain.workflows import WORKFLOWS
from aftersale.fitted_table import Field, FittedTable
from aftersale.health_config import load_health

HOLIDAY_DAYS = 365  # the public holidays shown: this many days from today, in each market


@click.group()
def policy() -> None:
    """The policy in force and the policy versions cases are pinned to."""


@policy.command("show")
@config_option
@json_option
def policy_show(config_dir: str | None, as_json: bool) -> None:
    """The policy in force: timers, markets, health thresholds, reason and reject codes."""
    folder = Path(config_dir) if config_dir else default_config_dir()
    settings, health_version = load_health(folder)
    now = SystemClock().now()
    document = policy_document(load_policy(folder), settings, health_version, now)
    if as_json:
        render.print_json(document)
    else:
        _print_policy(document, folder)


@policy.command("list")
@db_option
@config_option
@json_option
def policy_list(db_url: str | None, config_dir: str | None, as_json: bool) -> None:
    """The policy versions in the database, the cases pinned to each, the one in force."""
    versions = operator_engine(db_url, config_dir).policy_versions()
    if as_json:
        render.print_json({"policies": versions})
        return
    rows = [
        (
            row["version"],
            "yes" if row["in_force"] else "",
            row["stored_at"] or ("not yet: no case opened" if row["in_force"] else "missing"),
            str(row["open_cases"]),
            str(row["cases"]),
        )
        for row in versions
    ]
    fields = (
        *(Field("version", is_id=True), Field("in force"), Field("stored")),
        *(Field("open cases", numeric=True), Field("cases", numeric=True)),
    )
    table = FittedTable("policy versions", fields, ((0,), (1, 2), (3, 4)), rows)
    render.console.print(table)
    if any(row["stored_at"] is None and not row["in_force"] for row in versions):
        render.console.print("cases name a version the database lacks: aftersale verify")


# -- the document ------------------------------------------------------------------------------


def policy_document(
    policy: Policy, health: HealthSettings, health_version: str, now: datetime
) -> dict[str, Any]:
    """Everything the policy and the health settings hold, as JSON-ready data; each
    market's public holidays from its own today, ``now`` in its time zone."""
    return {
        "version": policy.version,
        "free_cancel_window_seconds": _seconds(policy.free_cancel_window),
        "high_value_review_business_days": policy.high_value_review_business_days,
        "timers": [
            {
                "kind": kind.value,
                "state": state.value,
                "on_timeout": WORKFLOWS[kind].timeouts[state].value,
                "seconds": _seconds(window),
                "markets": {
                    code: _seconds(policy.market_timers.get(code, {}).get((kind, state), window))
                    for code in policy.markets
                },
            }
            for (kind, state), window in policy.timers.items()
        ],
        "overrides": {
            code: [
                {"kind": kind.value, "state": state.value, "seconds": _seconds(window)}
                for (kind, state), window in timers.items()
            ]
            for code, timers in policy.market_timers.items()
        },
        "markets": [_market(market, now) for market in policy.markets.values()],
        "reasons": {
            "buyer": {code: who.value for code, who in policy.buyer_reasons.items()},
            "seller_cancellation": {
                code: who.value for code, who in policy.seller_cancellation_reasons.items()
            },
            "needing_unused_item": sorted(policy.reasons_needing_unused_item),
        },
        "reject": {
            "codes": sorted(policy.reject_reasons),
            "needing_note": sorted(policy.reject_reasons_needing_note),
            "note_max_length": policy.reject_note_max_length,
        },
        "evidence_kinds": sorted(policy.evidence_kinds),
        "health": _health(health, health_version),
    }


def _market(market: Market, now: datetime) -> dict[str, Any]:
    local = now.astimezone(market.timezone).date()
    days = (local + timedelta(days=offset) for offset in range(HOLIDAY_DAYS))
    return {
        "market": market.code,
        "timezone": market.timezone.key,
        "currency": market.currency,
        "currency_decimals": market.currency_decimals,
        "high_value_threshold": str(market.high_value_threshold),
        "return_window_seconds": _seconds(market.return_window),
        "evidence_kinds": sorted(market.evidence_kinds),
        "business_days": "Monday to Friday, except public holidays",
        "holidays": {
            "from": local.isoformat(),
            "days": HOLIDAY_DAYS,
            "dates": [day.isoformat() for day in days if market.is_holiday(day)],
        },
    }


def _health(health: HealthSettings, version: str) -> dict[str, Any]:
    return {
        "version": version,
        "alerts": {
            "raise_below": health.alert_raise_below,
            "consecutive_days": health.alert_consecutive_days,
            "clear_at_or_above": health.alert_clear_at_or_above,
        },
        "tiers": [
            {"tier": name, "floor": floor, "privileges": list(health.privileges.get(name, ()))}
            for name, floor in health.tiers
        ],
        "eligibility": {
            "min_delivered": health.eligibility_min_delivered,
            "window_days": health.eligibility_window_days,
        },
        "compliance": {
            "start": health.compliance_start,
            "per_overturned_rejection": health.compliance_per_overturned,
            "window_days": health.compliance_window_days,
            "major_promotions_min": health.major_promotions_min,
        },
        "dimensions": dict(health.dimension_weights),
        "metrics": [
            {
                "metric": spec.metric_id,
                "dimension": spec.dimension,
                "kind": spec.kind,
                "cohort": spec.cohort,
                "window_days": spec.window_days,
                "direction": spec.direction,
                "bands": [list(band) for band in spec.bands],
                "params": dict(spec.params),
            }
            for spec in health.metrics
        ],
    }


def _seconds(window: timedelta) -> int | float:
    seconds = window.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


# -- the tables --------------------------------------------------------------------------------


def _print_policy(doc: dict[str, Any], folder: Path) -> None:
    out = render.console
    out.print(
        f"policy {doc['version']} (from {folder}): cases opened from now on are pinned to it; "
        "`aftersale policy list` shows the versions open cases follow",
        markup=False,
    )
    out.print(_timer_table(doc))
    out.print(
        f"a cancellation asked for within {_text(doc['free_cancel_window_seconds'])} of "
        "payment is approved at once; a refund flow above its market's high-value threshold "
        f"has {doc['high_value_review_business_days']} business days (market time zone) for "
        "pending_review instead",
        markup=False,
    )
    out.print(_market_table(doc["markets"]))
    out.print(_holiday_table(doc["markets"]))
    _print_health(doc["health"])
    out.print(_reason_table(doc["reasons"]))
    reject = doc["reject"]
    rows = [(code, "yes" if code in reject["needing_note"] else "") for code in reject["codes"]]
    fields = (Field("reject code", is_id=True), Field("needs a note"))
    out.print(FittedTable("reject codes", fields, ((0,), (1,)), rows))
    out.print(
        f"a note is at most {reject['note_max_length']} characters; evidence kinds: "
        + ", ".join(doc["evidence_kinds"]),
        markup=False,
    )


def _timer_table(doc: dict[str, Any]) -> FittedTable:
    rows = []
    for timer in doc["timers"]:
        overrides = [
            f"{code} {_text(seconds)}"
            for code, seconds in timer["markets"].items()
            if seconds != timer["seconds"]
        ]
        rows.append(
            (
                timer["kind"],
                timer["state"],
                _text(timer["seconds"]),
                timer["on_timeout"],
                ", ".join(overrides) or "-",
            )
        )
    fields = (Field("kind"), Field("state"), Field("after"), Field("then"), Field("markets"))
    return FittedTable("timers", fields, ((0, 1), (2, 3), (4,)), rows)


def _market_table(markets: Sequence[Mapping[str, Any]]) -> FittedTable:
    rows = [
        (
            m["market"],
            m["timezone"],
            f"{m['currency']} ({m['currency_decimals']} decimals)",
            _text(m["return_window_seconds"]),
            f"{m['high_value_threshold']} {m['currency']}",
            ", ".join(m["evidence_kinds"]),
        )
        for m in markets
    ]
    fields = (
        *(Field("market", is_id=True), Field("time zone"), Field("currency")),
        *(Field("return window"), Field("high value above"), Field("evidence")),
    )
    return FittedTable("markets", fields, ((0,), (1, 2), (3, 4), (5,)), rows)


def _holiday_table(markets: Sequence[Mapping[str, Any]]) -> FittedTable:
    first = markets[0]["holidays"]
    rows = [(m["market"], ", ".join(m["holidays"]["dates"]) or "none") for m in markets]
    title = f"public holidays, {first['days']} days from {first['from']} (not business days)"
    return FittedTable(title, (Field("market", is_id=True), Field("dates")), ((0,), (1,)), rows)


def _print_health(health: Mapping[str, Any]) -> None:
    alerts, scored, credit = health["alerts"], health["eligibility"], health["compliance"]
    render.console.print(
        f"health {health['version']}: a clearance-risk alert opens after "
        f"{alerts['consecutive_days']} consecutive daily snapshots below "
        f"{alerts['raise_below']} and clears at or above {alerts['clear_at_or_above']}; a "
        f"shop is scored with {scored['min_delivered']} orders delivered in "
        f"{scored['window_days']} days; the compliance credit starts at {credit['start']} and "
        f"loses {credit['per_overturned_rejection']} a rejection overturned in "
        f"{credit['window_days']} days; major promotions need {credit['major_promotions_min']}",
        markup=False,
    )
    render.console.print(_tier_table(health["tiers"]))
    render.console.print(_metric_table(health["metrics"], health["dimensions"]))


def _tier_table(tiers: Sequence[Mapping[str, Any]]) -> FittedTable:
    rows = [
        (tier["tier"], str(tier["floor"]), ", ".join(tier["privileges"]) or "-") for tier in tiers
    ]
    fields = (Field("tier", is_id=True), Field("from score"), Field("privileges"))
    return FittedTable("health tiers", fields, ((0,), (1, 2)), rows)


def _metric_table(
    metrics: Sequence[Mapping[str, Any]], weights: Mapping[str, float]
) -> FittedTable:
    rows = [
        (
            m["metric"],
            f"{m['dimension']} ({weights[m['dimension']]:.0%})",
            _with_params(m["kind"], m["params"]),
            f"{m['window_days']} d by {m['cohort']}, {m['direction'].replace('_', ' ')}",
            " ".join(f"{value:g}→{points:g}" for value, points in m["bands"]),
        )
        for m in metrics
    ]
    fields = (
        *(Field("metric", is_id=True), Field("dimension"), Field("kind")),
        *(Field("window"), Field("bands (rate→points)")),
    )
    return FittedTable("health metrics", fields, ((0, 1), (2, 3), (4,)), rows)


def _with_params(kind: str, params: Mapping[str, Any]) -> str:
    """A metric's kind and its parameters: ``review (max_rating 2; exclude_topics a, b)``."""
    shown = [
        f"{key} {', '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in params.items()
    ]
    return f"{kind} ({'; '.join(shown)})" if shown else kind


def _reason_table(reasons: Mapping[str, Any]) -> FittedTable:
    unused = set(reasons["needing_unused_item"])
    rows = [
        (code, who, "buyer", "a return needs the item unused" if code in unused else "")
        for code, who in reasons["buyer"].items()
    ] + [
        (code, who, "seller cancelling", "")
        for code, who in reasons["seller_cancellation"].items()
    ]
    fields = (
        *(Field("reason code", is_id=True), Field("at fault by default")),
        *(Field("given by"), Field("rule")),
    )
    return FittedTable("reason codes", fields, ((0,), (1, 2), (3,)), rows)


def _text(seconds: float) -> str:
    """A duration in its largest whole unit: 2d, 36h, 30m, 90s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
