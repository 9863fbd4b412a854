"""The set-based raw baseline: what a refund-only case in ``pending_review`` moving to
``refunded`` writes, computed by hand, for the bare driver to write in the fewest statements.

The bench's two throughput loads are such cases (seeded by :mod:`aftersale.bench.seed`): the
sweep takes their ``review_timeout`` at each deadline, the approve figure has the seller
``approve`` them. Either way the same rows change, and this module says how, without any of our
layers:

- the case: ``refunded``, moved at the instant, no deadline, its refund recorded (lines.md:
  ``{items, shipping, return_shipping, total, paid_by}``), its version one up (a
  compare-and-set on the version read);
- the order: its lines' ledger (the case's line has its ``refunded_amount`` grown by the
  case's amount and is no longer held by it), its open case the next one still holding a line,
  the amount and any shipping fee refunded, its version one up (likewise). The baseline
  settles cases over one line, as the bench's are: a whole one-line order, or one line of a
  larger order;
- one ``case.transition`` event, its data as the engine writes it, the refund included;
- the order's health record (``health_subjects``): the case's state, and one more resolved
  seller deadline, met by the seller's approve, missed by a timeout;
- that deadline's item in ``health_items`` (the seller-deadline measure of health.toml, item
  ``<order>#<n>``, hit when missed), and its hour's sums in ``health_hours``, added up per
  batch (one row a shop, measure and hour).

:mod:`aftersale.bench.raw_sqlite` and :mod:`aftersale.bench.raw_postgres` write it; the census
(:mod:`aftersale.bench.census`) checks that they left the rows our engine left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from uuid_utils import uuid7

from aftersale import AfterSale

Instant = Callable[[datetime], Any]  # an instant as the driver takes it


class Claimed(NamedTuple):
    """What the baseline reads of a case, its order and the order's health record."""

    case_id: str
    order_id: str
    shop_id: str
    version: int
    deadline_at: datetime | None
    kind: str
    state: str
    deadline_action: str | None
    amount: str
    currency: str
    reason: str
    responsibility: str
    policy_version: str
    order_version: int
    order_shop: str
    refunded_total: str
    record: dict[str, Any]
    order_lines: list[dict[str, Any]]
    shipping_fee: str
    shipping_refunded: str
    case_lines: list[dict[str, Any]]
    covers_rest: bool


# the columns of :class:`Claimed`, for the baselines' one read (aliases: c cases, o orders,
# s health_subjects)
CLAIMED = (
    "c.case_id, c.order_id, c.shop_id, c.version, c.deadline_at, c.kind, c.state, "
    "c.deadline_action, c.amount, c.currency, c.reason, c.responsibility, c.policy_version, "
    "o.version, o.shop_id, o.refunded_total, s.record, o.lines, o.shipping_fee, "
    "o.shipping_refunded, c.lines, c.covers_rest"
)
JOINED = (
    "cases c JOIN orders o ON o.order_id = c.order_id "
    "JOIN health_subjects s ON s.subject_id = c.order_id"
)


@dataclass
class Batch:
    """The rows a batch of refunds writes, as each table's statement takes them."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    subjects: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    hours: dict[tuple[str, str, datetime], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )

    def hour_rows(self, instant: Instant) -> list[dict[str, Any]]:
        """The hourly sums, one row a (shop, measure, hour), in one lock order."""
        return [
            {"shop_id": s, "measure": m, "hour": instant(h), "counted": c, "hits": n}
            for (s, m, h), (c, n) in sorted(self.hours.items())
        ]


def seller_deadline_measure(engine: AfterSale) -> str:
    """The health measure that counts resolved seller deadlines (health.toml's)."""
    assert engine.health_settings is not None
    settings, _ = engine.health_settings
    return next(spec.metric_id for spec in settings.metrics if spec.kind == "seller_deadline")


def refunded(
    claimed: Sequence[Claimed],
    measure: str,
    instant: Instant,
    recorded_at: datetime,
    at: datetime | None = None,
    seller: Sequence[str] | None = None,
) -> Batch:
    """The rows of refunding ``claimed``: each at its own deadline by ``review_timeout``, or,
    with ``at`` and ``seller`` (one shop id a case), approved by that seller at ``at``."""
    batch = Batch()
    recorded = instant(recorded_at)
    for index, case in enumerate(claimed):
        if case.kind != "refund_only" or case.state != "pending_review":
            raise RuntimeError(f"case {case.case_id} is not a refund-only case under review")
        if seller is None:
            if case.deadline_at is None or case.deadline_action != "review_timeout":
                raise RuntimeError(f"case {case.case_id} has no review timeout to take")
            moved, action, actor = case.deadline_at, "review_timeout", "system"
        else:
            assert at is not None
            if seller[index] != case.order_shop:
                raise RuntimeError(f"{seller[index]} is not the seller of {case.case_id}")
            if case.deadline_at is not None and case.deadline_at <= at:
                raise RuntimeError(f"case {case.case_id} timed out before the approve")
            moved, action, actor = at, "approve", "seller"
        _refund(batch, case, measure, instant(moved), moved, recorded, action, actor)
    return batch


def _refund(
    batch: Batch,
    case: Claimed,
    measure: str,
    moved: Any,
    at: datetime,
    recorded: Any,
    action: str,
    actor: str,
) -> None:
    lines, refund, shipping = _settled(case)
    batch.cases.append(
        {
            "case_id": case.case_id,
            "expected": case.version,
            "state": "refunded",
            "updated_at": moved,
            "deadline_at": None,
            "deadline_action": None,
            "refund": refund,
        }
    )
    batch.orders.append(
        {
            "order_id": case.order_id,
            "expected": case.order_version,
            "refunded_total": str(
                Decimal(case.refunded_total) + (Decimal(case.amount) + shipping)
            ),
            "shipping_refunded": str(Decimal(case.shipping_refunded) + shipping),
            "lines": lines,
            # the order view's open case: the first line's still held by another case
            "open_case_id": next((ln["open_case_id"] for ln in lines if ln["open_case_id"]), None),
        }
    )
    data: dict[str, Any] = {
        "kind": case.kind,
        "action": action,
        "from_state": "pending_review",
        "to_state": "refunded",
        "actor": actor,
        "auto": actor == "system",
        "responsibility": case.responsibility,
        "reason": case.reason,
        "amount": case.amount,
        "currency": case.currency,
        "overturned": False,
        "deadline_at": None,
        "policy_version": case.policy_version,
    }
    if actor == "seller":
        data["actor_id"] = case.order_shop
    data["refund"] = refund
    batch.events.append(
        {
            "event_id": str(uuid7()),
            "type": "case.transition",
            "at": moved,
            "recorded_at": recorded,
            "case_id": case.case_id,
            "order_id": case.order_id,
            "shop_id": case.shop_id,
            "data": data,
        }
    )
    _health(batch, case, measure, moved, at, met=actor == "seller")


def _settled(case: Claimed) -> tuple[list[dict[str, Any]], dict[str, str], Decimal]:
    """The order's lines after the refund of a case over one of them (lines.md: its
    ``refunded_amount`` grows by the case's amount, the line is let go), the refund as the
    case and its event record it, and the shipping fee refunded with it."""
    if len(case.case_lines) != 1:
        raise RuntimeError(f"case {case.case_id}: the raw baseline settles cases over one line")
    held = case.case_lines[0]
    items = Decimal(case.amount)
    if held["line_id"] not in {line["line_id"] for line in case.order_lines}:
        raise RuntimeError(f"case {case.case_id}: its order has no line {held['line_id']}")
    lines: list[dict[str, Any]] = []
    cent = Decimal(1)
    for line in case.order_lines:
        if line["line_id"] == held["line_id"]:
            price = Decimal(line["unit_price"])
            # the currency's unit: the engine writes a line's prices in it
            cent = Decimal(1).scaleb(int(price.as_tuple().exponent))
            refunded = Decimal(line["refunded_amount"])
            capped = min(int(held["quantity"]) * price, line["quantity"] * price - refunded)
            if capped < items:
                raise RuntimeError(f"case {case.case_id} asks more than its line has left")
            line = {**line, "refunded_amount": str((refunded + items).quantize(cent))}
        if line["open_case_id"] == case.case_id:
            line = {**line, "open_case_id": None}
        lines.append(line)
    # the shipping fee comes back with a case over the whole rest of the order, once, unless
    # the buyer is responsible (a refund-only case is no cancellation)
    shipping = Decimal(0)
    if (
        case.covers_rest
        and Decimal(case.shipping_refunded) == 0
        and case.responsibility != "buyer"
    ):
        shipping = Decimal(case.shipping_fee)
    refund = {
        "items": str(items.quantize(cent)),
        "shipping": str(shipping.quantize(cent)),
        "return_shipping": str(Decimal(0).quantize(cent)),  # no return on a refund-only case
        "total": str((items + shipping).quantize(cent)),
        "paid_by": "platform" if case.responsibility in ("logistics", "platform") else "seller",
    }
    return lines, refund, shipping


def _health(
    batch: Batch, case: Claimed, measure: str, moved: Any, at: datetime, met: bool
) -> None:
    """The order's record, the seller deadline's item and its hour (see the module)."""
    record = case.record
    order = record["orders"][case.order_id]
    order[7][case.case_id] = [case.kind, "refunded", case.responsibility]
    deadlines = record["seller_deadlines"]
    number = sum(1 for entry in deadlines if entry[1] == case.order_id)
    deadlines.append([at.astimezone(UTC).isoformat(), case.order_id, met])
    batch.subjects.append({"subject_id": case.order_id, "record": record})
    batch.items.append(
        {
            "shop_id": case.shop_id,
            "measure": measure,
            "item_id": f"{case.order_id}#{number}",
            "at": moved,
            "hit": not met,
            "pending": False,
            "example": case.order_id,
        }
    )
    hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    sums = batch.hours[(case.shop_id, measure, hour)]
    sums[0] += 1
    sums[1] += 0 if met else 1
