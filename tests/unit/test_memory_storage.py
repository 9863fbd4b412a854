"""The memory backend keeps the storage contract: a unit of work writes all or nothing, on
commit only; stale versions, taken keys and taken days are conflicts; events are numbered in
the order they were recorded, without gaps; claims, reminders, quarantine and the outbox read
as the SQL store reads them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from aftersale.adapters.memory import MemoryStorage
from aftersale.config import policy_from_document, read_document
from aftersale.domain.cases import CaseRules
from aftersale.domain.events import (
    CASE_TRANSITION,
    HEALTH_ALERT_RAISED,
    ORDER_PAID,
    ORDER_SHIPPED,
    Event,
)
from aftersale.domain.invariants import Snapshot, check_snapshot
from aftersale.domain.lines import whole_order
from aftersale.domain.model import (
    TERMINAL_STATES,
    Action,
    Actor,
    Case,
    Kind,
    Message,
    Order,
    Responsibility,
    State,
)
from aftersale.domain.orders import PaidFact, record_paid, record_shipped
from aftersale.domain.requests import OpenRequest
from aftersale.errors import Conflict, InvalidInput
from aftersale.service.ports import Storage

SHOP = "shop-lumen-audio"
MONDAY_9AM = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COMMITTED_AT = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)  # what the storage's clock says
SELLER_WAITING = ("awaiting_pod", "pending_review", "return_received")


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage(now=lambda: COMMITTED_AT)


def _order(order_id: str = "US-100231", paid_at: datetime = MONDAY_9AM) -> Order:
    return Order(
        order_id=order_id,
        shop_id=SHOP,
        buyer_id="buyer-ada",
        market="US",
        currency="USD",
        amount=Decimal("59.90"),
        paid_at=paid_at,
    )


def _case(
    case_id: str = "RF-1",
    deadline_at: datetime | None = MONDAY_9AM + timedelta(days=2),
    order_id: str = "US-100231",
    state: State = State.pending_review,
) -> Case:
    return Case(
        case_id=case_id,
        order_id=order_id,
        shop_id=SHOP,
        buyer_id="buyer-ada",
        market="US",
        kind=Kind.refund_only,
        state=state,
        reason="not_received",
        responsibility=Responsibility.seller,
        amount=Decimal("59.90"),
        currency="USD",
        opened_by=Actor.buyer,
        opened_at=MONDAY_9AM,
        updated_at=MONDAY_9AM,
        policy_version="default-1",
        request={"order_id": order_id, "reason": "not_received"},
        deadline_at=deadline_at,
        deadline_action=None if deadline_at is None else Action.review_timeout,
    )


def _paid(order: Order) -> Event:
    data = {"market": order.market, "amount": str(order.amount)}
    return Event(ORDER_PAID, order.paid_at, order.order_id, order.shop_id, data=data)


def _stored(storage: MemoryStorage, *aggregates: Order | Case | Message) -> None:
    with storage.unit_of_work() as uow:
        for aggregate in aggregates:
            if isinstance(aggregate, Order):
                uow.orders.add(aggregate)
            elif isinstance(aggregate, Case):
                uow.cases.add(aggregate)
            else:
                uow.messages.add(aggregate)
        uow.commit()


def _quarantine(storage: MemoryStorage, case_id: str, at: datetime) -> None:
    with storage.unit_of_work() as uow:
        case = uow.cases.get(case_id)
        assert case is not None
        uow.cases.quarantine(case, at, "LookupError: order US-404 is missing")
        uow.commit()


# -- all or nothing -----------------------------------------------------------------------------


def test_nothing_is_stored_when_the_block_ends_without_commit(storage: MemoryStorage) -> None:
    with storage.unit_of_work() as uow:
        order = _order()
        order.recorded.append(_paid(order))
        uow.orders.add(order)
        uow.policies.add("default-1", {"policy.toml": {"name": "default"}}, MONDAY_9AM)
    with pytest.raises(LookupError), storage.unit_of_work() as uow:
        uow.orders.add(_order("US-2"))
        raise LookupError("a refusal raised out of the block")
    assert storage.reads.order("US-100231") is None
    assert storage.reads.order("US-2") is None
    assert storage.reads.policy_versions() == set()
    assert storage.reads.count_events() == 0


def test_a_case_changed_in_a_rolled_back_unit_is_stored_as_it_was(storage: MemoryStorage) -> None:
    _stored(storage, _order(), _case())
    with storage.unit_of_work() as uow:
        case = uow.cases.get("RF-1")
        assert case is not None
        case.state = State.refunded
        case.request["reason"] = "damaged"
    stored = storage.reads.case("RF-1")
    assert stored is not None
    assert (stored.state, stored.request["reason"], stored.version) == (
        State.pending_review,
        "not_received",
        1,
    )


def test_objects_handed_out_are_copies_that_never_change_what_is_stored(
    storage: MemoryStorage,
) -> None:
    case = _case()
    _stored(storage, _order(), case)
    case.state = State.closed  # the object that was added, after its commit
    read = storage.reads.case("RF-1")
    assert read is not None
    read.state = State.withdrawn
    again = storage.reads.case("RF-1")
    assert again is not None and again.state is State.pending_review


def test_of_two_units_that_changed_one_case_the_later_commit_conflicts_and_writes_nothing(
    storage: MemoryStorage,
) -> None:
    _stored(storage, _order(), _case())
    with storage.unit_of_work() as first, storage.unit_of_work() as second:
        winner, loser = first.cases.get("RF-1"), second.cases.get("RF-1")
        assert winner is not None and loser is not None
        winner.responsibility = Responsibility.seller
        winner.state = State.platform_review
        first.commit()
        loser.state = State.refunded
        loser.recorded.append(Event(CASE_TRANSITION, MONDAY_9AM, "US-100231", SHOP, "RF-1"))
        second.orders.add(_order("US-2"))
        second.policies.add("default-2", {"policy.toml": {"name": "default"}}, MONDAY_9AM)
        second.events.record(Event(HEALTH_ALERT_RAISED, MONDAY_9AM, None, SHOP))
        with pytest.raises(Conflict) as raised:
            second.commit()
    assert str(raised.value) == "case RF-1 was changed by another writer; try again"
    assert (raised.value.case_id, raised.value.state) == ("RF-1", "refunded")
    stored = storage.reads.case("RF-1")
    assert stored is not None and (stored.state, stored.version) == (State.platform_review, 2)
    assert winner.version == 2 and loser.version == 1
    assert storage.reads.order("US-2") is None
    assert storage.reads.policy_versions() == set()
    assert storage.reads.count_events() == 0


def test_a_stale_message_is_a_conflict_like_a_stale_case(storage: MemoryStorage) -> None:
    _stored(storage, Message(message_id="M-1", shop_id=SHOP, received_at=MONDAY_9AM))
    with storage.unit_of_work() as first, storage.unit_of_work() as second:
        mine, theirs = first.messages.get("M-1"), second.messages.get("M-1")
        assert mine is not None and theirs is not None
        mine.replied_at = theirs.replied_at = MONDAY_9AM + timedelta(hours=1)
        first.commit()
        with pytest.raises(Conflict, match="a message was changed by another writer"):
            second.commit()


def test_adding_a_key_that_is_stored_already_is_a_conflict(storage: MemoryStorage) -> None:
    _stored(storage, _order())
    with pytest.raises(Conflict, match="order US-100231"), storage.unit_of_work() as uow:
        uow.orders.add(_order("US-2"))
        uow.orders.add(_order())
        uow.commit()
    assert storage.reads.order("US-2") is None


def test_committing_twice_is_an_error(storage: MemoryStorage) -> None:
    with storage.unit_of_work() as uow:
        uow.commit()
        with pytest.raises(RuntimeError):
            uow.commit()


def test_versions_start_at_one_and_count_each_change(storage: MemoryStorage) -> None:
    order = _order()
    _stored(storage, order)
    assert order.version == 1
    for tracking in ("1Z999", "1Z998"):
        with storage.unit_of_work() as uow:
            loaded = uow.orders.get("US-100231")
            assert loaded is not None
            loaded.tracking = tracking
            uow.commit()
    with storage.unit_of_work() as uow:
        unchanged = uow.orders.get("US-100231")
        uow.commit()
    assert unchanged is not None and unchanged.version == 3
    stored = storage.reads.order("US-100231")
    assert stored is not None and (stored.tracking, stored.version) == ("1Z998", 3)


def test_writers_on_many_threads_each_win_once_per_try_and_number_events_without_gaps(
    storage: MemoryStorage,
) -> None:
    _stored(storage, _order())
    writers, refunds = 8, 25

    def refund_a_cent_at_a_time() -> None:
        for _ in range(refunds):
            while True:
                with storage.unit_of_work() as uow:
                    order = uow.orders.get("US-100231")
                    assert order is not None
                    order.refunded_total += Decimal("0.01")
                    order.recorded.append(_paid(order))
                    try:
                        uow.commit()
                        break
                    except Conflict:
                        continue  # another thread won this round: read again

    threads = [threading.Thread(target=refund_a_cent_at_a_time) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    order = storage.reads.order("US-100231")
    assert order is not None
    assert (order.refunded_total, order.version) == (Decimal("2.00"), writers * refunds + 1)
    seqs = [event["seq"] for event in storage.reads.iter_events()]
    assert seqs == list(range(1, writers * refunds + 1))


# -- identity, events, forget -------------------------------------------------------------------


def test_one_unit_of_work_hands_out_one_object_per_key(storage: MemoryStorage) -> None:
    _stored(storage, _order(), _order("US-2"), _case())
    with storage.unit_of_work() as uow:
        order = uow.orders.get("US-100231")
        assert order is not None
        assert uow.orders.get("US-100231") is order
        assert uow.orders.get_many(["US-2", "US-100231", "US-404"]) == {
            "US-100231": order,
            "US-2": uow.orders.get("US-2"),
        }
        assert uow.orders.get_many(["US-100231"])["US-100231"] is order
        case = uow.cases.get("RF-1")
        assert uow.cases.claim_due(MONDAY_9AM + timedelta(days=5), 10) == [case]
        assert uow.cases.claim_due(MONDAY_9AM + timedelta(days=5), 10)[0] is case
        new = _case("RF-2")
        uow.cases.add(new)
        assert uow.cases.get("RF-2") is new


def test_events_are_numbered_in_the_order_recorded_across_aggregates_without_gaps(
    storage: MemoryStorage,
) -> None:
    _stored(storage, _order(), _case())
    with storage.unit_of_work() as uow:
        case, order = uow.cases.get("RF-1"), uow.orders.get("US-100231")
        assert case is not None and order is not None
        shipped = Event(ORDER_SHIPPED, MONDAY_9AM, "US-100231", SHOP, data={"tracking": "1Z"})
        moved = Event(CASE_TRANSITION, MONDAY_9AM, "US-100231", SHOP, "RF-1", {"to": "x"})
        alert = Event(HEALTH_ALERT_RAISED, MONDAY_9AM, None, SHOP, data={"score": 41})
        new = _order("US-2")
        paid = _paid(new)
        case.recorded.append(moved)  # recorded second, on the aggregate loaded second
        order.recorded.insert(0, shipped)
        uow.events.record(alert)
        new.recorded.append(paid)
        uow.orders.add(new)
        uow.commit()
    assert case.recorded == order.recorded == new.recorded == []
    with storage.unit_of_work() as uow:
        uow.events.record(Event(HEALTH_ALERT_RAISED, MONDAY_9AM, None, SHOP, data={"score": 40}))
        uow.commit()
    log = storage.reads.log_after(0, 100)
    assert [(e["seq"], e["type"]) for e in log] == [
        (1, ORDER_SHIPPED),
        (2, CASE_TRANSITION),
        (3, HEALTH_ALERT_RAISED),
        (4, ORDER_PAID),
        (5, HEALTH_ALERT_RAISED),
    ]
    assert log[0] == {
        "seq": 1,
        "event_id": log[0]["event_id"],
        "type": ORDER_SHIPPED,
        "at": "2026-03-02T09:00:00Z",
        "recorded_at": "2026-09-01T12:00:00Z",
        "case_id": None,
        "order_id": "US-100231",
        "shop_id": SHOP,
        "tracking": "1Z",
    }
    assert len({e["event_id"] for e in log}) == 5
    assert all(e["event_id"][14] == "7" for e in log)  # UUID version 7: time-ordered
    assert [e["seq"] for e in storage.reads.history("RF-1")] == [2]
    assert [e["seq"] for e in storage.health.shop_events(SHOP)] == [1, 2, 3, 4, 5]
    assert storage.health.last_seq() == storage.reads.count_events() == 5


def test_a_forgotten_case_writes_neither_its_change_nor_its_events(
    storage: MemoryStorage,
) -> None:
    _stored(storage, _order(), _case())
    with storage.unit_of_work() as uow:
        case, order = uow.cases.get("RF-1"), uow.orders.get("US-100231")
        assert case is not None and order is not None
        case.state = State.refunded
        case.recorded.append(Event(CASE_TRANSITION, MONDAY_9AM, "US-100231", SHOP, "RF-1"))
        order.tracking = "1Z999"
        uow.forget(case)
        added = _case("RF-2")
        uow.cases.add(added)
        uow.forget(added)
        uow.commit()
    stored = storage.reads.case("RF-1")
    assert stored is not None and (stored.state, stored.version) == (State.pending_review, 1)
    assert storage.reads.case("RF-2") is None
    assert storage.reads.count_events() == 0
    order_now = storage.reads.order("US-100231")
    assert order_now is not None and order_now.tracking == "1Z999"


# -- the timers' reads --------------------------------------------------------------------------


def test_due_cases_are_claimed_oldest_deadline_first_then_by_case_id(
    storage: MemoryStorage,
) -> None:
    at = MONDAY_9AM + timedelta(days=2)
    _stored(
        storage,
        _order(),
        _case("RF-3", at),
        _case("RF-1", at + timedelta(hours=1)),
        _case("RF-2", at),
        _case("RF-4", at + timedelta(days=9)),
        _case("RF-5", None),
    )
    with storage.unit_of_work() as uow:
        claimed = uow.cases.claim_due(at + timedelta(hours=1), 10)
        assert [case.case_id for case in claimed] == ["RF-2", "RF-3", "RF-1"]
        assert [c.case_id for c in uow.cases.claim_due(at + timedelta(hours=1), 2)] == [
            "RF-2",
            "RF-3",
        ]
    assert storage.reads.any_due(at) and not storage.reads.any_due(at - timedelta(seconds=1))
    assert storage.reads.next_deadline() == (at, "RF-2")


def test_a_case_claimed_by_one_unit_is_not_claimed_by_another_until_that_one_ends(
    storage: MemoryStorage,
) -> None:
    at = MONDAY_9AM + timedelta(days=2)
    _stored(storage, _order(), _case("RF-1", at), _case("RF-2", at + timedelta(hours=1)))
    with storage.unit_of_work() as first:
        assert [c.case_id for c in first.cases.claim_due(at + timedelta(days=1), 1)] == ["RF-1"]
        with storage.unit_of_work() as second:
            assert [c.case_id for c in second.cases.claim_due(at + timedelta(days=1), 5)] == [
                "RF-2"
            ]
    with storage.unit_of_work() as third:
        assert len(third.cases.claim_due(at + timedelta(days=1), 5)) == 2


def test_a_quarantined_case_is_left_out_of_the_sweep_until_released(
    storage: MemoryStorage,
) -> None:
    at = MONDAY_9AM + timedelta(days=2)
    _stored(storage, _order(), _case("RF-1", at), _case("RF-2", at + timedelta(hours=1)))
    with storage.unit_of_work() as uow:
        case = uow.cases.get("RF-1")
        assert case is not None
        case.state = State.refunded  # a timeout that failed halfway through
        case.recorded.append(Event(CASE_TRANSITION, at, "US-100231", SHOP, "RF-1"))
        uow.cases.quarantine(case, COMMITTED_AT, "LookupError: " + "x" * 3000)
        uow.commit()
    stored = storage.reads.case("RF-1")
    assert stored is not None and stored.state is State.pending_review
    assert storage.reads.count_events() == 0
    with storage.unit_of_work() as uow:
        assert [c.case_id for c in uow.cases.claim_due(at + timedelta(days=1), 10)] == ["RF-2"]
        reminders = uow.cases.claim_reminders(
            MONDAY_9AM, at + timedelta(days=1), SELLER_WAITING, 9
        )
        assert [case.case_id for case in reminders] == ["RF-2"]
    backlog = storage.reads.backlog(at + timedelta(days=1))
    assert backlog["overdue"] == 1
    assert backlog["oldest_overdue_at"] == at + timedelta(hours=1)
    assert backlog["next_deadline_at"] is None
    [quarantined] = backlog["quarantined"]
    assert quarantined["case_id"] == "RF-1"
    assert quarantined["at"] == "2026-09-01T12:00:00Z"
    assert len(quarantined["error"]) == 2000
    assert storage.reads.next_deadline() == (at + timedelta(hours=1), "RF-2")
    with storage.unit_of_work() as uow:
        uow.cases.release("RF-1")
        uow.commit()
    assert storage.reads.backlog(at)["quarantined"] == []
    with storage.unit_of_work() as uow:
        assert len(uow.cases.claim_due(at + timedelta(days=1), 10)) == 2


def test_reminders_are_claimed_once_per_deadline_in_the_window_and_the_states(
    storage: MemoryStorage,
) -> None:
    now = MONDAY_9AM
    _stored(
        storage,
        _order(),
        _case("RF-1", now + timedelta(hours=5)),
        _case("RF-2", now + timedelta(hours=2)),
        _case("RF-3", now),  # due now: no reminder, the timeout comes
        _case("RF-4", now + timedelta(hours=30)),  # later than the window
        _case("RF-5", now + timedelta(hours=3), state=State.platform_review),
        _case("RF-6", now + timedelta(hours=24)),  # the window's last instant
    )
    until = now + timedelta(hours=24)
    with storage.unit_of_work() as uow:
        due = uow.cases.claim_reminders(now, until, SELLER_WAITING, 10)
        assert [case.case_id for case in due] == ["RF-2", "RF-1", "RF-6"]
        assert uow.cases.claim_reminders(now, until, (), 10) == []
        for case in due[:2]:
            uow.cases.reminded(case)
        uow.commit()
    with storage.unit_of_work() as uow:
        assert [c.case_id for c in uow.cases.claim_reminders(now, until, SELLER_WAITING, 10)] == [
            "RF-6"
        ]
        moved = uow.cases.get("RF-1")
        assert moved is not None
        moved.deadline_at = now + timedelta(hours=6)  # a new deadline, a new reminder
        uow.commit()
    with storage.unit_of_work() as uow:
        again = uow.cases.claim_reminders(now, until, SELLER_WAITING, 10)
        assert [case.case_id for case in again] == ["RF-1", "RF-6"]


def test_last_change_is_the_latest_update_of_the_orders_cases(storage: MemoryStorage) -> None:
    later = _case("RF-2")
    later.updated_at = MONDAY_9AM + timedelta(days=3)
    _stored(storage, _order(), _case("RF-1"), later)
    with storage.unit_of_work() as uow:
        assert uow.cases.last_change("US-100231") == MONDAY_9AM + timedelta(days=3)
        assert uow.cases.last_change("US-404") is None


# -- the outbox and the other reads -------------------------------------------------------------


def test_events_after_a_cursor_come_in_pages_that_neither_overlap_nor_skip(
    storage: MemoryStorage,
) -> None:
    for number in range(5):
        order = _order(f"US-{number}")
        order.recorded.append(_paid(order))
        _stored(storage, order)
    first = storage.reads.events_after(0, 2)
    assert [e["cursor"] for e in first] == ["0.1", "0.2"]
    rest = storage.reads.events_after(first[-1]["cursor"], 100)
    assert [e["seq"] for e in first + rest] == [1, 2, 3, 4, 5]
    assert storage.reads.events_after("0.5", 100) == []
    assert storage.reads.events_after(None, 1)[0]["seq"] == 1
    assert [e["seq"] for e in storage.reads.iter_events(batch=2)] == [1, 2, 3, 4, 5]
    assert [e["seq"] for e in storage.reads.log_after(3, 100)] == [4, 5]
    with pytest.raises(InvalidInput):
        storage.reads.events_after("the last one", 10)


def test_what_is_not_there_reads_as_none(storage: MemoryStorage) -> None:
    with storage.unit_of_work() as uow:
        assert uow.orders.get("US-404") is None
        assert uow.orders.get_many(["US-404"]) == {}
        assert uow.cases.get("RF-404") is None
        assert uow.messages.get("M-404") is None
        assert uow.policies.get("default-404") is None
    assert storage.reads.order("US-404") is None
    assert storage.reads.case("RF-404") is None
    assert storage.reads.next_deadline() is None
    assert storage.reads.history("RF-404") == []
    assert storage.health.snapshots(SHOP, 5) == []
    assert storage.health.counts(SHOP, MONDAY_9AM) is None
    assert not storage.health.has_shop(SHOP)


def test_instants_read_back_in_utc(storage: MemoryStorage) -> None:
    eastern = datetime(2026, 3, 1, 23, 0, tzinfo=ZoneInfo("America/New_York"))
    _stored(storage, _order(paid_at=eastern))
    order = storage.reads.order("US-100231")
    assert order is not None
    assert order.paid_at == eastern and order.paid_at.tzinfo is UTC


def test_cases_are_listed_in_case_id_order_filtered_and_paged(storage: MemoryStorage) -> None:
    refunded = _case("RF-2", None, state=State.refunded)
    _stored(storage, _order(), _case("RF-3"), refunded, _case("RF-1"), _case("RF-4"))
    reads = storage.reads
    page = reads.list_cases({"shop_id": SHOP, "state": None}, 2)
    assert [case.case_id for case in page] == ["RF-1", "RF-2"]
    assert [case.case_id for case in reads.list_cases({}, 2, after="RF-2")] == ["RF-3", "RF-4"]
    pending = reads.list_cases({"state": "pending_review", "kind": "refund_only"}, 10)
    assert [case.case_id for case in pending] == ["RF-1", "RF-3", "RF-4"]
    assert reads.list_cases({"shop_id": "shop-other"}, 10) == []
    assert [case.case_id for case in reads.all_cases(page=3)] == ["RF-1", "RF-2", "RF-3", "RF-4"]
    assert [order.order_id for order in reads.all_orders(page=1)] == ["US-100231"]


def test_policies_are_kept_once_and_their_usage_counted(storage: MemoryStorage) -> None:
    document = {"policy.toml": {"name": "default"}}
    with storage.unit_of_work() as uow:
        uow.policies.add("default-1", document, MONDAY_9AM)
        assert uow.policies.get("default-1") == document
        uow.commit()
    with storage.unit_of_work() as uow:
        uow.policies.add("default-1", {"changed": {}}, COMMITTED_AT)  # there already: kept
        uow.commit()
    pinned_elsewhere = _case("RF-3")
    pinned_elsewhere.policy_version = "default-0"
    closed = _case("RF-2", None, state=State.closed)
    _stored(storage, _order(), _case("RF-1"), closed, pinned_elsewhere)
    with storage.unit_of_work() as uow:
        assert uow.policies.get("default-1") == document
    usage = storage.reads.policy_usage({state.value for state in TERMINAL_STATES})
    assert usage == [
        {"version": "default-1", "stored_at": MONDAY_9AM, "cases": 2, "open_cases": 1},
        {"version": "default-0", "stored_at": None, "cases": 1, "open_cases": 1},
    ]


def test_snapshots_one_a_day_newest_first(storage: MemoryStorage) -> None:
    days = [MONDAY_9AM + timedelta(days=n) for n in range(3)]

    def taken(at: datetime, score: float) -> dict[str, object]:
        report = {"score": score, "tier": "good"}
        row = {"shop_id": SHOP, "taken_at": at, "score": score, "tier": "good"}
        return {**row, "alert_open": False, "report": report}

    with storage.unit_of_work() as uow:
        for number, day in enumerate(days):
            uow.snapshots.add(taken(day, 90.0 + number))
        uow.commit()
    with pytest.raises(Conflict), storage.unit_of_work() as uow:
        uow.snapshots.add(taken(days[1], 10.0))
        uow.commit()
    with storage.unit_of_work() as uow:  # a rebuild: delete the days, take them again
        uow.snapshots.delete(SHOP, days[1], days[2])
        uow.snapshots.add(taken(days[1], 50.0))
        assert [row["score"] for row in uow.snapshots.before(SHOP, 5, days[2])] == [91.0, 90.0]
        uow.commit()
    newest = storage.health.snapshots(SHOP, 5)
    assert [(row["taken_at"], row["score"]) for row in newest] == [
        (days[1], 50.0),
        (days[0], 90.0),
    ]
    assert newest[0]["report"] == {"score": 50.0, "tier": "good"}
    with storage.unit_of_work() as uow:
        assert uow.snapshots.before(SHOP, 1, days[2]) == [
            {"taken_at": days[1], "score": 50.0, "alert_open": False}
        ]
    assert storage.health.latest_snapshot_per_shop() == {SHOP: days[1]}


def test_the_health_inputs_come_from_the_orders_and_the_events(storage: MemoryStorage) -> None:
    early, late = _order("US-2", MONDAY_9AM - timedelta(days=1)), _order("US-1")
    late.recorded.append(_paid(late))
    early.recorded.append(_paid(early))
    _stored(storage, late, early)
    assert storage.health.shop_markets() == {SHOP: ("US", MONDAY_9AM - timedelta(days=1))}
    assert storage.health.orders_paid_after(0) == [
        (SHOP, "US", MONDAY_9AM, 1),
        (SHOP, "US", MONDAY_9AM - timedelta(days=1), 2),
    ]
    assert storage.health.orders_paid_after(1) == [(SHOP, "US", MONDAY_9AM - timedelta(days=1), 2)]
    assert storage.health.has_shop(SHOP)
    assert not storage.health.adopt_rollups(COMMITTED_AT)
    assert storage.health.rebuild(COMMITTED_AT, lambda events: None) == 0
    assert storage.health.prune(COMMITTED_AT, lambda: False) is None


# -- verify -------------------------------------------------------------------------------------


def test_a_database_the_engine_wrote_verifies_clean(storage: MemoryStorage) -> None:
    typed: Storage = storage
    document = read_document()
    policy = policy_from_document(document)
    amount = Decimal("59.90")
    fact = PaidFact(
        "US-100231", SHOP, "buyer-ada", "US", "USD", amount, None, Decimal(0), whole_order(amount)
    )
    request = OpenRequest(
        "RF-1", "US-100231", Kind.refund_only, Actor.buyer, "not_received", None, {}
    )
    with typed.unit_of_work() as uow:
        uow.policies.add(policy.version, document, MONDAY_9AM)
        order, _ = record_paid(fact, MONDAY_9AM)
        record_shipped(order, MONDAY_9AM + timedelta(days=1), "1Z999AA10123456784")
        case, _ = CaseRules().open(order, policy, request, MONDAY_9AM + timedelta(days=2))
        uow.orders.add(order)
        uow.cases.add(case)
        uow.commit()
    with typed.unit_of_work() as uow:  # the sweep: the seller never answered
        [due] = uow.cases.claim_due(MONDAY_9AM + timedelta(days=30), 10)
        owner = uow.orders.get(due.order_id)
        assert owner is not None
        CaseRules().time_out(due, owner, policy)
        uow.commit()
    rows = list(typed.reads.verification_rows())
    assert [table for table, _ in rows] == [
        "policies",
        "orders",
        "cases",
        "events",
        "events",
        "events",
        "events",
    ]
    snapshot = Snapshot()
    for table, row in rows:
        snapshot.add(table, row)
    assert snapshot.unreadable == []
    assert check_snapshot(snapshot, {policy.version: policy}) == []
    assert snapshot.cases["RF-1"].version == 2
