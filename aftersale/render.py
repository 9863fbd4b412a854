"""Human output of the command line: rich tables of cases, orders and replay results."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aftersale.clock import iso
from aftersale.domain.model import SELLER_WAITING_STATES, TERMINAL_STATES, Kind
from aftersale.fitted_table import Field, FittedTable

SELLER_STATES = frozenset(state.value for state in SELLER_WAITING_STATES)

# Piped output is not cut to 80 columns: it usually lands in a file or a log.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def print_json(value: Any) -> None:
    """JSON on stdout, never wrapped or coloured, so it can be piped."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


CASE_FIELDS = (
    *(Field("case", is_id=True), Field("order", is_id=True), Field("shop", is_id=True)),
    *(Field("kind"), Field("state"), Field("at fault"), Field("amount"), Field("deadline")),
)


def case_table(cases: Iterable[dict[str, Any]], title: str = "cases") -> FittedTable:
    rows = [
        (
            case["case_id"],
            case["order_id"],
            case["shop_id"],
            case["kind"],
            case["state"],
            case["responsibility"],
            f"{case['amount']} {case['currency']}",
            case["deadline_at"] or "-",
        )
        for case in cases
    ]
    return FittedTable(title, CASE_FIELDS, ((0, 1, 2), (3, 4), (5, 6), (7,)), rows)


def print_case_page(cases: Sequence[dict[str, Any]], following: str | None) -> None:
    """A page of ``aftersale case list``, and how to read the next one."""
    console.print(case_table(cases))
    if not cases:
        console.print("no cases", markup=False)
    elif following is None:
        console.print(f"{len(cases)} case(s), no more", markup=False)
    else:
        console.print(
            f"{len(cases)} case(s) shown; more: run with --after {following}", markup=False
        )


HISTORY_FIELDS = (
    *(Field("at"), Field("action"), Field("from"), Field("to")),
    *(Field("actor"), Field("at fault"), Field("overturned")),
)


def print_case(case: dict[str, Any]) -> None:
    console.print(
        f"[bold]{escape(case['case_id'])}[/] {case['kind']} on order "
        f"{escape(case['order_id'])} (shop {escape(case['shop_id'])}): "
        f"[bold]{case['state']}[/], at fault: {case['responsibility']}, "
        f"{case['amount']} {case['currency']}, policy {escape(case['policy_version'])}"
    )
    if case["deadline_at"]:
        console.print(f"deadline {case['deadline_at']}: then {case['deadline_action']}")
    _case_money(case)
    allowed = [f"{a['action']} ({', '.join(a['actors'])})" for a in case["allowed_actions"]]
    console.print("allowed next: " + (", ".join(allowed) or "nothing (terminal)"))
    rows = [
        (
            step["at"],
            step["action"],
            step["from"] or "-",
            step["to"],
            step["actor"] + (" (auto)" if step["auto"] else ""),
            step["responsibility"],
            "yes" if step["overturned"] else "",
        )
        for step in case.get("history", [])
    ]
    narrow = ((0,), (1, 4), (2, 3), (5, 6))
    console.print(FittedTable("history", HISTORY_FIELDS, narrow, rows))


def _case_money(case: dict[str, Any]) -> None:
    """A case's lines, its offers and its refund (lines.md), under its first line."""
    lines = case.get("lines") or []
    covered = ", ".join(f"{line['line_id']} × {line['quantity']}" for line in lines)
    console.print(f"lines: {covered or '-'}", markup=False)
    currency = case["currency"]
    for offer in case.get("offers") or []:
        console.print(
            f"offer {offer['number']}: {offer['amount']} {currency} at {offer['at']}, "
            f"{offer['outcome']}",
            markup=False,
        )
    refund = case.get("refund")
    if refund is not None:
        console.print(
            f"refund: {refund['total']} {currency} paid by {refund['paid_by']} (items "
            f"{refund['items']}, shipping {refund['shipping']}, return shipping "
            f"{refund['return_shipping']})",
            markup=False,
        )


ORDER_FACTS = (
    *("shop_id", "buyer_id", "market", "paid_at", "dispatch_by"),
    *("shipped_at", "tracking", "delivered_at", "cancelled_at"),
)
LINE_FIELDS = (
    *(Field("line", is_id=True), Field("sku", is_id=True), Field("quantity × unit price")),
    *(Field("value", numeric=True), Field("refunded", numeric=True)),
    *(Field("returned", numeric=True), Field("refundable", numeric=True)),
    *(Field("units refundable", numeric=True), Field("open case", is_id=True)),
)


def print_order(order: dict[str, Any]) -> None:
    """An order's facts, then each of its lines with what is still refundable on it."""
    currency = order["currency"]
    console.print(
        f"[bold]order {escape(order['order_id'])}[/]: {order['amount']} {currency}, "
        f"{order['refunded_total']} refunded, {order['refundable']} refundable; shipping fee "
        f"{order['shipping_fee']}, {order['shipping_refunded']} of it refunded"
    )
    facts = Table(show_header=False)
    for key in ORDER_FACTS:
        facts.add_row(key, "-" if order.get(key) is None else str(order[key]))
    console.print(facts)
    rows = [
        (
            line["line_id"],
            line["sku"] or "-",
            f"{line['quantity']} × {line['unit_price']}",
            line["value"],
            line["refunded_amount"],
            str(line["returned_quantity"]),
            line["refundable_amount"],
            str(line["refundable_quantity"]),
            line["open_case_id"] or "-",
        )
        for line in order.get("lines") or []
    ]
    narrow = ((0, 1), (2, 3), (4, 5), (6, 7), (8,))
    console.print(FittedTable(f"lines ({currency})", LINE_FIELDS, narrow, rows))


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


EVERY_CASE_FIELDS = (
    *(Field("case", is_id=True), Field("shop", is_id=True), Field("kind"), Field("ended")),
    *(Field("last step"), Field("at fault"), Field("steps", numeric=True)),
)


def print_health_scores(health: dict[str, dict[str, Any]]) -> None:
    """One line a shop: its score and tier, or why it is not scored, and an open alert."""
    for shop_id, report in health.items():
        if report["score"] is None:
            delivered = report["orders_delivered_90d"]
            orders = "order" if delivered == 1 else "orders"
            score = f"not scored ({delivered} {orders} delivered in 90 days, too few)"
        else:
            score = f"{report['score']:.2f} ({report['tier'] or 'no tier'})"
        alert = any(alert["open"] for alert in report["alerts"])
        opened = ", clearance-risk alert open" if alert else ""
        console.print(f"health of {shop_id}: {score}{opened}", markup=False)


def every_case_table(cases: Sequence[dict[str, Any]]) -> FittedTable:
    """What happened to every case: how it ended, who ended it, who was at fault."""
    rows = []
    for case in cases:
        last = case["history"][-1]
        who = "timer" if last["action"].endswith("_timeout") else last["actor"]
        rows.append(
            (
                case["case_id"],
                case["shop_id"],
                case["kind"],
                case["state"],
                f"{last['action']} ({who})",
                case["responsibility"],
                str(len(case["history"])),
            )
        )
    return FittedTable("every case", EVERY_CASE_FIELDS, ((0, 1), (2, 3), (4, 5), (6,)), rows)


SHOP_COUNTS = (
    *("cases", "refunded", "cancelled", "closed", "withdrawn"),
    *("seller at fault", "seller deadlines missed", "rejections overturned"),
)
SHOP_FIELDS = (Field("shop", is_id=True), *(Field(name, numeric=True) for name in SHOP_COUNTS))


def shop_table(cases: Sequence[dict[str, Any]]) -> FittedTable:
    """Per shop: outcomes, seller fault, seller deadlines missed and rejections overturned."""
    rows = []
    for shop in sorted({case["shop_id"] for case in cases}):
        mine = [case for case in cases if case["shop_id"] == shop]
        steps = [step for case in mine for step in case["history"]]
        states = Counter(case["state"] for case in mine)
        missed = sum(
            1
            for step in steps
            if step["action"].endswith("_timeout") and step["from"] in SELLER_STATES
        )
        rows.append(
            (
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
        )
    return FittedTable("by shop", SHOP_FIELDS, ((0,), (1, 2, 3), (4, 5), (6, 7, 8)), rows)


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


HEALTH_FIELDS = (
    *(Field("dimension"), Field("metric"), Field("value"), Field("numerator / denominator")),
    *(Field("points"), Field("window"), Field("examples that cost points", is_id=True)),
)


def print_health(report: dict[str, Any]) -> None:
    score = "not scored" if report["score"] is None else f"{report['score']:.2f}"
    console.print(
        f"[bold]{escape(report['shop_id'])}[/] as of {report['as_of']}: score {score}, "
        f"tier {report['tier'] or '-'} ({report['orders_delivered_90d']} orders delivered in "
        f"90 days; {'eligible' if report['eligible'] else 'fewer than needed to be scored'})"
    )
    rows = []
    for name, dimension in report["dimensions"].items():
        for metric_id, m in dimension["metrics"].items():
            rows.append(
                (
                    f"{name} ({dimension['weight']:.0%}: {dimension['score']:.2f})",
                    metric_id,
                    "no data" if m["no_data"] else f"{m['value']:.2%}",
                    f"{m['numerator']} / {m['denominator']}",
                    f"{m['points']:.2f}",
                    f"{m['window_days']} d by {m['cohort']}",
                    "\n".join(m["examples"]),  # one id a line: never cut
                )
            )
    narrow = ((0, 1), (2, 3, 4), (5,), (6,))
    console.print(FittedTable("metrics", HEALTH_FIELDS, narrow, rows))
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


# -- governance: tickets and shops (governance.md) -----------------------------------------

TICKET_FIELDS = (
    *(Field("ticket", is_id=True), Field("shop", is_id=True), Field("order", is_id=True)),
    *(Field("category"), Field("points", numeric=True), Field("state")),
    *(Field("appeals", numeric=True), Field("deadline")),
)


def ticket_table(tickets: Iterable[dict[str, Any]], title: str = "tickets") -> FittedTable:
    rows = [
        (
            ticket["ticket_id"],
            ticket["shop_id"],
            ticket["order_id"] or "-",
            ticket["category"],
            str(ticket["points"]),
            ticket["state"],
            str(ticket["appeals"]),
            ticket["deadline_at"] or "-",
        )
        for ticket in tickets
    ]
    return FittedTable(title, TICKET_FIELDS, ((0, 1, 2), (3, 4), (5, 6), (7,)), rows)


def print_ticket_page(tickets: Sequence[dict[str, Any]], following: str | None) -> None:
    """A page of ``aftersale ticket list``, and how to read the next one."""
    console.print(ticket_table(tickets))
    if not tickets:
        console.print("no tickets", markup=False)
    elif following is None:
        console.print(f"{len(tickets)} ticket(s), no more", markup=False)
    else:
        console.print(
            f"{len(tickets)} ticket(s) shown; more: run with --after {following}", markup=False
        )


TICKET_HISTORY_FIELDS = (
    *(Field("at"), Field("action"), Field("from"), Field("to")),
    *(Field("actor"), Field("round", numeric=True)),
)


def print_ticket(ticket: dict[str, Any]) -> None:
    """A ticket: what it is for, its state and deadline, what may come next, its history."""
    order = "" if ticket["order_id"] is None else f" (order {escape(ticket['order_id'])})"
    console.print(
        f"[bold]{escape(ticket['ticket_id'])}[/] {ticket['category']} ticket against shop "
        f"{escape(ticket['shop_id'])}{order}: [bold]{ticket['state']}[/], "
        f"{ticket['points']} points, {ticket['appeals']} appeal(s)"
    )
    console.print(
        f"issued {ticket['issued_at']} by {ticket['source']}, governance "
        f"{ticket['policy_version']}",
        markup=False,
    )
    console.print(f"reason: {ticket['reason']}", markup=False)
    metric = ticket.get("metric")
    if metric is not None:
        examples = ", ".join(metric["examples"]) or "none"
        value = "no data" if metric["value"] is None else f"{metric['value']:.2%}"
        console.print(
            f"metric: {metric['metric']} {value} of {metric['denominator']} "
            f"(examples: {examples})",
            markup=False,
        )
    if ticket["deadline_at"]:
        console.print(f"deadline {ticket['deadline_at']}: then {ticket['deadline_action']}")
    allowed = [f"{a['action']} ({', '.join(a['actors'])})" for a in ticket["allowed_actions"]]
    console.print("allowed next: " + (", ".join(allowed) or "nothing (terminal)"))
    rows = [
        (
            step["at"],
            step["action"],
            step["from"] or "-",
            step["to"],
            step["actor"] + (" (auto)" if step["auto"] else ""),
            str(step["round"]),
        )
        for step in ticket.get("history", [])
    ]
    narrow = ((0,), (1, 4), (2, 3), (5,))
    console.print(FittedTable("history", TICKET_HISTORY_FIELDS, narrow, rows))


PUNISHMENT_FIELDS = (
    *(Field("punishment"), Field("started"), Field("ends"), Field("ended")),
    Field("cause", is_id=True),
)


def print_shop(shop: dict[str, Any], at: datetime | None = None) -> None:
    """A shop's governance: its market, active points as of ``at`` (None: now), punishments."""
    as_of = "now" if at is None else iso(at)
    console.print(
        f"[bold]shop {escape(shop['shop_id'])}[/] (market {shop['market']}): "
        f"{shop['active_points']} active points as of {as_of}"
    )
    rows = [
        (
            punishment["kind"],
            punishment["started_at"],
            punishment["ends_at"],
            _ended(punishment),
            punishment["cause_ticket_id"],
        )
        for punishment in shop["punishments"]
    ]
    console.print(FittedTable("punishments", PUNISHMENT_FIELDS, ((0, 4), (1, 2), (3,)), rows))
    if not rows:
        console.print("no punishments", markup=False)


def _ended(punishment: dict[str, Any]) -> str:
    if punishment["ended_at"] is None:
        return "-"
    return str(punishment["ended_at"]) + (" (early)" if punishment["ended_early"] else "")
