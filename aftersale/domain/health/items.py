"""What the score counts, one item at a time: the common ground of the two ways to score a shop.

An *item* is one thing a measure counts: an order in a metric's cohort, a buyer message, a
resolved seller deadline, an overturned rejection. It carries the instant that places it in a
window and whether it cost points. Scoring from the event log folds the shop and lists its
items; the rollups store the same items, and per-day sums of them, as events are written. Both
count a window with :func:`count`'s rule, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar

from aftersale.domain.health.facts import OrderRecord, ShopRecord
from aftersale.domain.health.settings import HealthSettings, MetricSpec

MAX_EXAMPLES = 5
Entry = TypeVar("Entry", bound=tuple[object, ...])
OrderItem = Callable[[OrderRecord], "Item | None"]
ELIGIBILITY = "eligibility:delivered"  # orders delivered in the eligibility window
COMPLIANCE = "compliance:overturned"  # rejections overturned in the compliance window


class Item(NamedTuple):
    """A named tuple, not a frozen dataclass: every event the rollups fold builds and compares
    its subject's items twice (before and after), and a tuple is built in a third of the time
    and compared in a fifth."""

    item_id: str  # unique within its measure and shop, the same however the shop is folded
    at: datetime  # what places it in a window
    hit: bool  # it cost points: in a lower-is-better numerator, or failed a higher-is-better one
    example: str  # the id a report shows for it
    pending: bool = False  # counts (as a failure) only once older than the measure's grace


@dataclass
class Count:
    numerator: int
    denominator: int
    examples: list[str]  # what cost points, the most recent first


@dataclass(frozen=True)
class Measure:
    """One count the report needs: a configured metric, eligibility or the compliance credit."""

    name: str
    window_days: int
    list_items: Callable[[ShopRecord], Iterator[Item]]
    grace: timedelta = timedelta(0)  # pending items wait this long before they count
    counts_failures: bool = False  # the numerator is what succeeded: counted minus hits
    # for a measure counting orders, the item of one order (None: not counted); list_items is
    # then this over every order, and the rollups call it without a generator per measure
    of_order: OrderItem | None = None

    def window(self, as_of: datetime) -> tuple[datetime, datetime]:
        """The half-open interval (start, end] of health.md."""
        return as_of - timedelta(days=self.window_days), as_of


def count(measure: Measure, items: Iterable[Item], as_of: datetime) -> Count:
    """The measure's numerator, denominator and examples as of ``as_of``."""
    start, end = measure.window(as_of)
    counted, costly = 0, []
    for item in items:
        if not start < item.at <= end or (item.pending and as_of - item.at <= measure.grace):
            continue
        counted += 1
        if item.hit:
            costly.append((item.at, item.example))
    hits = len(costly)
    numerator = counted - hits if measure.counts_failures else hits
    return Count(numerator, counted, newest_examples(costly))


def newest_examples(costly: Iterable[tuple[datetime, str]]) -> list[str]:
    """Up to five distinct ids of what cost points, the most recent first (ties by id)."""
    examples: list[str] = []
    for _, example in sorted(costly, reverse=True):
        if example not in examples:
            examples.append(example)
            if len(examples) == MAX_EXAMPLES:
                break
    return examples


def measures(settings: HealthSettings) -> tuple[Measure, ...]:
    """Every measure a report needs under ``settings``: its metrics, then the two gates."""
    return (
        *(_metric_measure(spec) for spec in settings.metrics),
        _order_measure(ELIGIBILITY, settings.eligibility_window_days, _delivered),
        Measure(COMPLIANCE, settings.compliance_window_days, _overturned),
    )


def _metric_measure(spec: MetricSpec) -> Measure:
    order_tests = _ORDER_KINDS.get(spec.kind)
    if order_tests is not None:
        of_order = _order_item(spec.cohort, *order_tests(spec))
        return _order_measure(spec.metric_id, spec.window_days, of_order)
    if spec.kind == "chat_response":
        grace = timedelta(hours=float(spec.params.get("answer_hours", 24)))
        return Measure(
            spec.metric_id,
            spec.window_days,
            lambda shop: _messages(shop, grace),
            grace=grace,
            counts_failures=True,
        )
    assert spec.kind == "seller_deadline", spec.kind
    return Measure(spec.metric_id, spec.window_days, _seller_deadlines, counts_failures=True)


# -- items of each metric kind ---------------------------------------------------------------

OrderTest = Callable[[OrderRecord], bool]


def _order_measure(name: str, window_days: int, of_order: OrderItem) -> Measure:
    def list_items(shop: ShopRecord) -> Iterator[Item]:
        for order in shop.orders.values():
            item = of_order(order)
            if item is not None:
                yield item

    return Measure(name, window_days, list_items, of_order=of_order)


def _order_item(cohort: str, hit: OrderTest, keep: OrderTest | None = None) -> OrderItem:
    """The item of an order in the ``cohort``, when ``keep`` (if any) keeps it."""
    placed = _COHORTS.get(cohort, _nowhere)

    def item(order: OrderRecord) -> Item | None:
        at = placed(order)
        if at is None or (keep is not None and not keep(order)):
            return None
        return Item(order.order_id, at, hit(order), order.order_id)

    return item


def _paid(order: OrderRecord) -> datetime | None:
    return order.paid_at


def _delivered_at(order: OrderRecord) -> datetime | None:
    return order.delivered_at


def _due(order: OrderRecord) -> datetime | None:
    return order.dispatch_by


def _nowhere(order: OrderRecord) -> datetime | None:
    return None


# the instant that places an order in a cohort, looked up once per measure, not per order
_COHORTS: Mapping[str, Callable[[OrderRecord], datetime | None]] = {
    "paid": _paid,
    "delivered": _delivered_at,
    "due": _due,
}


def _review(spec: MetricSpec) -> tuple[OrderTest]:
    worst, excluded = int(spec.params["max_rating"]), set(spec.params.get("exclude_topics", []))

    def bad(order: OrderRecord) -> bool:
        review = order.first_review
        return review is not None and review[0] <= worst and review[1] not in excluded

    return (bad,)


def _seller_fault_case(spec: MetricSpec) -> tuple[OrderTest]:
    kinds, ends = set(spec.params["kinds"]), spec.params.get("end_states")

    def seller_fault(order: OrderRecord) -> bool:
        return any(
            kind in kinds and responsibility == "seller" and (ends is None or state in ends)
            for kind, state, responsibility in order.cases.values()
        )

    return (seller_fault,)


def _late_dispatch(spec: MetricSpec) -> tuple[OrderTest, OrderTest]:
    def late(order: OrderRecord) -> bool:
        assert order.dispatch_by is not None
        return order.shipped_at is None or order.shipped_at > order.dispatch_by

    def counted(order: OrderRecord) -> bool:
        """Orders cancelled at or before their dispatch deadline were never due."""
        cancelled, due = order.cancelled_at, order.dispatch_by
        return not (cancelled is not None and due is not None and cancelled <= due)

    return late, counted


def _complaint(spec: MetricSpec) -> tuple[OrderTest]:
    return (lambda order: order.complained,)


_ORDER_KINDS: Mapping[str, Callable[[MetricSpec], tuple[OrderTest, ...]]] = {
    "review": _review,
    "seller_fault_case": _seller_fault_case,
    "late_dispatch": _late_dispatch,
    "complaint": _complaint,
}


def _messages(shop: ShopRecord, grace: timedelta) -> Iterator[Item]:
    """Answered messages count at once; an unanswered one counts, as failed, once it is late."""
    for message in shop.messages.values():
        example = message.order_id or message.message_id
        if message.replied_at is None:
            yield Item(message.message_id, message.received_at, True, example, pending=True)
        else:
            late = message.replied_at - message.received_at > grace
            yield Item(message.message_id, message.received_at, late, example)


def _seller_deadlines(shop: ShopRecord) -> Iterator[Item]:
    for item_id, (at, order_id, met) in _numbered(shop.seller_deadlines):
        yield Item(item_id, at, not met, order_id)


def _delivered(order: OrderRecord) -> Item | None:
    if order.delivered_at is None:
        return None
    return Item(order.order_id, order.delivered_at, False, order.order_id)


def _overturned(shop: ShopRecord) -> Iterator[Item]:
    for item_id, (at, order_id) in _numbered(shop.overturned):
        yield Item(item_id, at, False, order_id)


def _numbered(entries: Sequence[Entry]) -> Iterator[tuple[str, Entry]]:
    """Ids for an order's n-th entry (``O1#0``, ``O1#1``): stable however the shop is folded."""
    seen: dict[object, int] = {}  # (a Counter costs more to build than most shops' entries)
    for entry in entries:
        order_id = entry[1]
        number = seen.get(order_id, 0)
        yield f"{order_id}#{number}", entry
        seen[order_id] = number + 1
