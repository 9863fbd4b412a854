"""Human output of the command line: rich tables of cases, orders and replay results."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from aftersale.domain.model import SELLER_WAITING_STATES, TERMINAL_STATES, Kind

SELLER_STATES = frozenset(state.value for state in SELLER_WAITING_STATES)

# Piped output is not cut to 80 columns: it usually lands in a file or a log.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def print_json(value: Any) -> None:
    """JSON on stdout, never wrapped or coloured, so it can be piped."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


def case_table(cases: Iterable[dict[str, Any]], title: str = "cases") -> Table:
    table = Table(title=title)
    for column in ("case", "order", "shop", "kind", "state", "at fault", "amount", "deadline"):
        table.add_column(column)
    for case in cases:
        table.add_row(
            case["case_id"],
            case["order_id"],
            case["shop_id"],
            case["kind"],
            case["state"],
            case["responsibility"],
            f"{case['amount']} {case['currency']}",
            case["deadline_at"] or "-",
        )
    return table


def print_case(case: dict[str, Any]) -> None:
    console.print(
        f"[bold]{case['case_id']}[/] {case['kind']} on order {case['order_id']} "
        f"(shop {case['shop_id']}): [bold]{case['state']}[/], at fault: {case['responsibility']}, "
        f"{case['amount']} {case['currency']}, policy {case['policy_version']}"
    )
    if case["deadline_at"]:
        console.print(f"deadline {case['deadline_at']}: then {case['deadline_action']}")
    allowed = [f"{a['action']} ({', '.join(a['actors'])})" for a in case["allowed_actions"]]
    console.print("allowed next: " + (", ".join(allowed) or "nothing (terminal)"))
    history = Table(title="history")
    for column in ("at", "action", "from", "to", "actor", "at fault", "overturned"):
        history.add_column(column)
    for step in case.get("history", []):
        history.add_row(
            step["at"],
            step["action"],
            step["from"] or "-",
            step["to"],
            step["actor"] + (" (auto)" if step["auto"] else ""),
            step["responsibility"],
            "yes" if step["overturned"] else "",
        )
    console.print(history)


def print_order(order: dict[str, Any]) -> None:
    table = Table(title=f"order {order['order_id']}", show_header=False)
    for key, value in order.items():
        table.add_row(key, "-" if value is None else str(value))
    console.print(table)


def outcome_table(cases: Sequence[dict[str, Any]], title: str) -> Table:
    """How many cases of each kind ended in each state."""
    counts = Counter((case["kind"], case["state"]) for case in cases)
    states = sorted({state for _, state in counts}, key=lambda s: (s in TERMINAL_STATES, s))
    table = Table(title=title)
    table.add_column("kind")
    for state in states:
        table.add_column(state, justify="right")
    table.add_column("total", justify="right")
    for kind in Kind:
        row = [counts.get((kind.value, state), 0) for state in states]
        if any(row):
            table.add_row(kind.value, *(str(n) if n else "" for n in row), str(sum(row)))
    return table


def print_errors(errors: Sequence[dict[str, Any]]) -> None:
    if not errors:
        console.print("every line was applied")
        return
    table = Table(title=f"{len(errors)} refused line(s)")
    for column in ("line", "code", "message"):
        table.add_column(column)
    for error in errors:
        table.add_row(str(error["line"]), error["code"], error["message"])
    console.print(table)


def every_case_table(cases: Sequence[dict[str, Any]]) -> Table:
    """What happened to every case: how it ended, who ended it, who was at fault."""
    table = Table(title="every case")
    for column in ("case", "shop", "kind", "ended", "last step", "at fault", "steps"):
        table.add_column(column)
    for case in cases:
        last = case["history"][-1]
        who = "timer" if last["action"].endswith("_timeout") else last["actor"]
        table.add_row(
            case["case_id"],
            case["shop_id"],
            case["kind"],
            case["state"],
            f"{last['action']} ({who})",
            case["responsibility"],
            str(len(case["history"])),
        )
    return table


def shop_table(cases: Sequence[dict[str, Any]]) -> Table:
    """Per shop: outcomes, seller fault, seller deadlines missed and rejections overturned."""
    table = Table(title="by shop")
    columns = (
        "shop",
        "cases",
        "refunded",
        "cancelled",
        "closed",
        "withdrawn",
        "seller at fault",
        "seller deadlines missed",
        "rejections overturned",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "shop" else "right")
    for shop in sorted({case["shop_id"] for case in cases}):
        mine = [case for case in cases if case["shop_id"] == shop]
        steps = [step for case in mine for step in case["history"]]
        states = Counter(case["state"] for case in mine)
        missed = sum(
            1
            for step in steps
            if step["action"].endswith("_timeout") and step["from"] in SELLER_STATES
        )
        table.add_row(
            shop,
            str(len(mine)),
            str(states["refunded"]),
            str(states["cancelled"]),
            str(states["closed"]),
            str(states["withdrawn"]),
            str(sum(1 for case in mine if case["responsibility"] == "seller")),
            str(missed),
            str(sum(1 for step in steps if step["overturned"])),
        )
    return table


def bench_table(report: dict[str, Any]) -> Table:
    title = f"aftersale bench ({report['scale']}, {report['database']}, {report['machine']})"
    table = Table(title=title)
    for column in ("figure", "ours", "baseline", "ratio", "target", "detail"):
        table.add_column(column, justify="right" if column in ("ours", "ratio") else "left")
    for figure in report["figures"]:
        baseline = figure["baseline"]
        table.add_row(
            figure["name"],
            f"{figure['ours']:,.1f} {figure['unit']}",
            "—" if baseline is None else f"{baseline:,.1f} ({figure['baseline_name']})",
            "—" if figure["ratio"] is None else f"{figure['ratio']:.2f}×",
            figure["target"],
            figure["detail"],
        )
    return table


def print_health(report: dict[str, Any]) -> None:
    score = "not scored" if report["score"] is None else f"{report['score']:.2f}"
    console.print(
        f"[bold]{report['shop_id']}[/] as of {report['as_of']}: score {score}, "
        f"tier {report['tier'] or '-'} ({report['orders_delivered_90d']} orders delivered in "
        f"90 days; {'eligible' if report['eligible'] else 'fewer than needed to be scored'})"
    )
    table = Table(title="metrics")
    for column in (
        "dimension",
        "metric",
        "value",
        "numerator / denominator",
        "points",
        "window",
        "examples that cost points",
    ):
        table.add_column(column)
    for name, dimension in report["dimensions"].items():
        for metric_id, m in dimension["metrics"].items():
            value = "no data" if m["no_data"] else f"{m['value']:.2%}"
            table.add_row(
                f"{name} ({dimension['weight']:.0%}: {dimension['score']:.2f})",
                metric_id,
                value,
                f"{m['numerator']} / {m['denominator']}",
                f"{m['points']:.2f}",
                f"{m['window_days']} d by {m['cohort']}",
                ", ".join(m["examples"]),
            )
    console.print(table)
    credit = report["compliance"]
    console.print(
        f"compliance credit {credit['credit']} ({credit['overturned_rejections_90d']} "
        f"overturned rejections in 90 days); major promotions: "
        f"{'yes' if credit['major_promotions_eligible'] else 'no'}"
    )


def trend_table(shop_id: str, trend: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=f"{shop_id}: daily snapshots")
    for column in ("local midnight (UTC)", "score", "tier", "", "alert"):
        table.add_column(column)
    for day in trend:
        score = day["score"]
        bar = "" if score is None else "█" * round(score * 4)
        table.add_row(
            day["taken_at"],
            "-" if score is None else f"{score:.2f}",
            day["tier"] or "-",
            bar,
            "clearance risk" if day["alert_open"] else "",
        )
    return table
