"""Cases over order lines (lines.md) beside whole-order cases, in the same run.

Two figures, each the rate of the work over lines beside the same work on one-line orders
whose cases cover the whole order:

- **commands**: open a refund-only case over 2 of the 3 units of one line of a 3-line order,
  then the seller approves it (refunded: the refund allocated to the line, the line let go),
  one transaction each; beside the same two commands on a one-line order and a case without
  lines;
- **sweep**: one in-process sweep (the daemon's batch) taking the review timeouts of such
  partial cases, one per 3-line order, beside the same sweep over whole-order cases.

Each side runs in rounds that alternate with the other's, each round on a database of its own
seeded alike, and keeps its best round: a noisy minute on a shared machine then slows neither
side, nor the ratio. The detail also gives the ratio of this process's CPU time, which other
processes loading the machine change far less than the wall clock (it leaves out what a
PostgreSQL server does). The issue's target: a case over lines costs at most 1.2 times a
whole-order case, so its rate is at least 1 / 1.2 of the other's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aftersale import VirtualClock, connect
from aftersale.bench.databases import analyze, own_database
from aftersale.bench.figure import Figure
from aftersale.bench.seed import CASE_LINE, LINES, seed_due_cases
from aftersale.daemon import DaemonOptions

ROUNDS = 2  # alternating rounds of each side
MOST = 1.2  # the bound on what a case over lines may cost beside a whole-order case
OPENED_AT = datetime(2026, 3, 3, 9, tzinfo=UTC)
# the commands' orders: a one-line order of 20.00, or LINES at these unit prices (19.50)
WHOLE = "20.00"
PRICES = ("3.00", "2.00", "1.50")


def lines(scale: dict[str, int], url: str) -> list[Figure]:
    count, deadlines = scale["commands"], scale["timers"]
    batch = max(10, min(DaemonOptions().batch, deadlines // 20))
    commands = _alternating(lambda over_lines: _commands(url, count, over_lines))
    sweeps = _alternating(lambda over_lines: _sweep(url, deadlines, batch, over_lines))
    rounds = f"best of {ROUNDS} alternating rounds"
    target = f"≥ {1 / MOST:.2f}× (a case over lines costs ≤ {MOST}× a whole-order case)"
    return [
        Figure(
            "commands over lines",
            "commands/s",
            2 * count / commands[True][0],
            2 * count / commands[False][0],
            "the same on one-line orders, whole-order cases, the same run",
            target,
            detail=f"{count:,} opens of a refund-only case over {CASE_LINE['quantity']} of "
            f"line {CASE_LINE['line_id']}'s {LINES[1][2]} units of a {len(LINES)}-line order, "
            f"each approved, one transaction a command; {rounds}; "
            f"{_cost(commands)}",
        ),
        Figure(
            "sweep over lines",
            "deadlines/s",
            deadlines / sweeps[True][0],
            deadlines / sweeps[False][0],
            "the same sweep of whole-order cases on one-line orders, the same run",
            target,
            detail=f"{deadlines:,} review timeouts in one sweep in this process, batches of "
            f"{batch:,}, each case over {CASE_LINE['quantity']} units of one line of a "
            f"{len(LINES)}-line order; {rounds}; {_cost(sweeps)}",
        ),
    ]


Seconds = tuple[float, float]  # wall clock, and this process's CPU time


def _alternating(run: Callable[[bool], Seconds]) -> dict[bool, Seconds]:
    """The best seconds of each side (False: whole-order cases, True: cases over lines) over
    :data:`ROUNDS` rounds, the sides alternating: the best wall clock, and the best CPU time
    of this process (what other processes on the machine barely change)."""
    best = {False: (float("inf"),) * 2, True: (float("inf"),) * 2}
    for _ in range(ROUNDS):
        for over_lines, (wall, cpu) in best.items():
            taken = run(over_lines)
            best[over_lines] = (min(wall, taken[0]), min(cpu, taken[1]))
    return best


def _cost(seconds: dict[bool, Seconds]) -> str:
    wall, cpu = (seconds[True][i] / seconds[False][i] for i in (0, 1))
    return (
        f"a case over lines costs {wall:.2f}× a whole-order case ({cpu:.2f}× in this "
        "process's CPU time)"
    )


class _Timer:
    """Wall clock and this process's CPU time from its start to :meth:`stop`."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> Seconds:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _commands(url: str, count: int, over_lines: bool) -> Seconds:
    """Seconds for ``count`` opens and approves, on orders paid and shipped beforehand."""
    tag = uuid.uuid4().hex[:6]
    with own_database(url, "lines_commands") as db_url:
        clock = VirtualClock(OPENED_AT - timedelta(days=1))
        engine = connect(db_url, clock=clock)
        paid: dict[str, Any] = {}
        if over_lines:
            paid["lines"] = [
                {"line_id": line_id, "sku": sku, "quantity": units, "unit_price": price}
                for (line_id, sku, units), price in zip(LINES, PRICES, strict=True)
            ]
        amount = _amount(paid.get("lines")) if over_lines else WHOLE
        for number in range(count):
            engine.order_paid(f"{tag}O{number}", "shop-a", "buyer-a", "US", "USD", amount, **paid)
            engine.order_shipped(f"{tag}O{number}")
        clock.move_to(OPENED_AT)
        opened: dict[str, Any] = {"lines": [CASE_LINE]} if over_lines else {}
        engine.status()  # connected before the clock starts
        timer = _Timer()
        for number in range(count):
            case_id = f"{tag}C{number}"
            engine.open_case(
                case_id,
                f"{tag}O{number}",
                "refund_only",
                "buyer",
                "not_received",
                actor_id="buyer-a",
                **opened,
            )
            if engine.act(case_id, "approve", "seller", actor_id="shop-a")["state"] != "refunded":
                raise RuntimeError(f"case {case_id} was not refunded")
        seconds = timer.stop()
        engine.close()
    return seconds


def _amount(given: list[dict[str, Any]] | None) -> str:
    assert given is not None
    return str(sum((line["quantity"] * Decimal(line["unit_price"]) for line in given), Decimal(0)))


def _sweep(url: str, count: int, batch: int, over_lines: bool) -> Seconds:
    """Seconds one sweep in this process takes to fire ``count`` due review timeouts."""
    now = datetime.now(UTC)
    with own_database(url, "lines_sweep") as db_url:
        engine = connect(db_url)
        seed_due_cases(
            engine,
            count,
            now,
            spread=timedelta(hours=1),
            prefix="W-",
            with_history=True,
            lines=over_lines,
        )
        analyze(db_url)  # as autovacuum would have, long before
        engine.close()
        engine = connect(db_url, migrate=False)
        engine.status()  # connected before the clock starts
        timer = _Timer()
        fired = engine.sweep(batch).fired
        seconds = timer.stop()
        engine.close()
    if fired != count:
        raise RuntimeError(f"the sweep fired {fired} of {count} due deadlines")
    return seconds
