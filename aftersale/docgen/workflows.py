"""docs/workflows.md's blocks: states, transitions, who may act, diagrams, deadlines, markets
and reason codes, from the workflow tables and the shipped config/."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from types import SimpleNamespace
from typing import Any

from aftersale.config import load_policy, read_document
from aftersale.docgen.markdown import code, codes, duration, table
from aftersale.domain.cases import CaseRules
from aftersale.domain.diagram import render
from aftersale.domain.model import (
    SELLER_WAITING_STATES,
    TERMINAL_STATES,
    Action,
    Actor,
    Kind,
    Order,
    State,
)
from aftersale.domain.policy import REFUND_FLOWS, Policy
from aftersale.domain.requests import ACTION_FIELDS, OPEN_FIELDS, OpenRequest, parse_action_fields
from aftersale.domain.workflows import WORKFLOWS, Transition
from aftersale.domain.workflows.base import REQUESTERS
from aftersale.errors import Forbidden, InvalidInput

ENGINE = "the engine (`system`)"


@cache
def policy() -> Policy:
    """The policy of the shipped config/ (never a deployment's)."""
    return load_policy()


@cache
def document() -> dict[str, dict[str, Any]]:
    return read_document()


def requesters(action: Action) -> str:
    if action is Action.open:
        return "; ".join(f"{code(actor)} ({codes(kinds)})" for actor, kinds in openers().items())
    return codes(sorted(REQUESTERS[action])) if REQUESTERS[action] else ENGINE


@cache
def openers() -> dict[Actor, list[Kind]]:
    """Who may open which kind of case, found by asking the rule that refuses the others."""
    paid = datetime(2026, 3, 2, tzinfo=UTC)
    order = Order(
        order_id="O",
        shop_id="S",
        buyer_id="B",
        market="US",
        currency="USD",
        amount=Decimal(1),
        paid_at=paid,
    )
    allowed: dict[Actor, list[Kind]] = {}
    for actor in Actor:
        for kind in Kind:
            request = OpenRequest("C", "O", kind, actor, "reason", None, {})
            try:
                CaseRules.check_opener(order, request)
            except Forbidden:
                continue
            allowed.setdefault(actor, []).append(kind)
    return allowed


def condition(transition: Transition[State, Action]) -> str:
    """When a guarded transition applies, found by asking its guard."""
    guard = transition.guard
    if guard is None:
        return ""
    if transition.source is State.awaiting_buyer_response:  # back where the offer came from
        return f"the offer was made from {code(transition.dest)}"
    fresh = SimpleNamespace(return_shipped=False)
    passing = [o for o in ("refund", "return", "deny") if guard({"outcome": o}, fresh) is None]
    said = f"outcome {codes(passing)}"
    sent_back = guard({"outcome": passing[0]}, SimpleNamespace(return_shipped=True))
    return said if sent_back is None else f"{said}, only before the item was sent back"


def states() -> str:
    rows = []
    for state in State:
        kinds = [k for k in Kind if state in WORKFLOWS[k].states]
        timeouts = {WORKFLOWS[k].timeouts.get(state) for k in kinds} - {None}
        rows.append(
            (
                code(state),
                codes(kinds),
                "terminal" if state in TERMINAL_STATES else "waiting",
                codes(sorted(a.value for a in timeouts if a is not None)),
                "yes" if state in SELLER_WAITING_STATES else "",
            )
        )
    header = ("state", "kinds", "waiting or terminal", "timeout action", "a seller deadline")
    return table(header, rows)


def transitions(kind: Kind) -> Callable[[], str]:
    def block() -> str:
        workflow = WORKFLOWS[kind]
        ordered = sorted(workflow.transitions, key=lambda t: workflow.states.index(t.source))
        rows = [
            (code(t.source), code(t.action), requesters(t.action), code(t.dest), condition(t))
            for t in ordered
        ]
        return table(("from", "action", "requested by", "to", "when"), rows)

    return block


def diagram(kind: Kind) -> Callable[[], str]:
    return lambda: f"```mermaid\n{render(kind)}```\n"


# -- the fields of each action ----------------------------------------------------------------


def _sample_fields(policy: Policy) -> dict[str, Any]:
    """A valid value of every action field, to find by leaving each out which are required."""
    plain_reason = sorted(policy.reject_reasons - policy.reject_reasons_needing_note)[0]
    kinds = sorted(
        policy.evidence_kinds & policy.market(next(iter(policy.markets))).evidence_kinds
    )
    return {
        "reject_reason": plain_reason,
        "note": "a note",
        "evidence": [{"kind": kinds[0], "uri": "https://cdn.example/e.jpg"}],
        "tracking": "RET-1",
        "outcome": "refund",
        "responsibility": "seller",
        "amount": "5.00",
        "shipping_cost": "4.50",
    }


def required(action: Action) -> frozenset[str]:
    """The fields of ``action`` without which the engine refuses it (``invalid_input``)."""
    shipped = policy()
    market = shipped.market(next(iter(shipped.markets)))
    allowed = ACTION_FIELDS.get(action, frozenset())
    full = {key: value for key, value in _sample_fields(shipped).items() if key in allowed}
    parse_action_fields(shipped, market, action, full)  # every field given: accepted
    needed = set()
    for key in allowed:
        try:
            parse_action_fields(
                shipped, market, action, {k: v for k, v in full.items() if k != key}
            )
        except InvalidInput:
            needed.add(key)
    return frozenset(needed)


def _fields(action: Action) -> str:
    if action is Action.open:
        opening = ("case_id", "order_id", "kind", "actor", "reason")
        return f"{codes(opening)}; optional {codes(sorted(OPEN_FIELDS | {'actor_id'}))}"
    if not REQUESTERS[action]:
        return "—"
    allowed, needed = ACTION_FIELDS.get(action, frozenset()), required(action)
    optional = sorted((allowed - needed) | {"actor_id"})
    return f"{codes(sorted(needed)) + '; ' if needed else ''}optional {codes(optional)}"


def actions() -> str:
    rows = []
    for action in Action:
        kinds = [k for k in Kind if any(t.action is action for t in WORKFLOWS[k].transitions)]
        rows.append(
            (code(action), requesters(action), codes(kinds or list(Kind)), _fields(action))
        )
    return table(("action", "requested by", "kinds", "fields"), rows)


# -- deadlines and markets --------------------------------------------------------------------


def _window(kind: Kind, state: State, market: str) -> str:
    shipped = policy()
    window = shipped.market_timers.get(market, {}).get(
        (kind, state), shipped.timers[(kind, state)]
    )
    said = duration(window)
    if kind in REFUND_FLOWS and state is State.pending_review:
        place = shipped.market(market)
        days = shipped.high_value_review_business_days
        said += f"; above {place.high_value_threshold} {place.currency}: {days} business days"
    return said


def deadlines() -> str:
    markets = list(policy().markets)
    rows = []
    for kind in Kind:
        workflow = WORKFLOWS[kind]
        for state, action in workflow.timeouts.items():
            dest = next(t.dest for t in workflow.transitions if t.action is action)
            windows = [_window(kind, state, market) for market in markets]
            rows.append((code(kind), code(state), code(action), code(dest), *windows))
    return table(("kind", "state", "timeout action", "to", *markets), rows)


def markets() -> str:
    rows = []
    for market_code, place in policy().markets.items():
        raw = document()["markets.toml"][market_code]
        region = raw["holiday_subdivision"]
        calendar = raw["holidays"] + (f" ({region})" if region else "")
        rows.append(
            (
                code(market_code),
                place.timezone.key,
                f"{place.currency} ({place.currency_decimals} decimals)",
                calendar or "none",
                f"{place.high_value_threshold} {place.currency}",
                f"{place.return_window.days} days",
                codes(sorted(place.evidence_kinds)),
            )
        )
    header = ("market", "time zone", "currency", "public holidays", "high value above")
    return table((*header, "return window", "evidence kinds"), rows)


def rules() -> str:
    shipped = policy()
    reject = document()["reasons.toml"]["reject"]
    note = f"{codes(reject['needs_note'])}, at most {shipped.reject_note_max_length} characters"
    rows = [
        (
            "free cancellation after payment (end included)",
            duration(shipped.free_cancel_window),
            "`timers.toml` `cancellation.free_cancel_window`",
        ),
        (
            "review of a refund flow above the market's high-value threshold",
            f"{shipped.high_value_review_business_days} business days",
            "`timers.toml` `high_value.review_business_days`",
        ),
        (
            "return_refund reasons that need `item_unused: true`",
            codes(sorted(shipped.reasons_needing_unused_item)),
            "`reasons.toml` `buyer_rules.needs_unused_item`",
        ),
        (
            "reject codes that need a note",
            note,
            "`reasons.toml` `reject.needs_note`, `reject.note_max_length`",
        ),
        (
            "the shipped policy's version",
            code(shipped.version),
            "`policy.toml` `name` and a hash of the four policy files",
        ),
    ]
    return table(("rule", "default", "set by"), rows)


def reasons() -> str:
    shipped = policy()
    buyer = [
        (code(reason), code(who), "yes" if reason in shipped.reasons_needing_unused_item else "")
        for reason, who in shipped.buyer_reasons.items()
    ]
    seller = [(code(r), code(who)) for r, who in shipped.seller_cancellation_reasons.items()]
    reject = [
        (code(r), "yes" if r in shipped.reject_reasons_needing_note else "")
        for r in document()["reasons.toml"]["reject"]["codes"]
    ]
    return "\n".join(
        (
            "Buyer reasons (any kind of case):\n",
            table(("reason", "responsibility", "return needs `item_unused`"), buyer),
            "Seller cancellation reasons (a seller opening a cancellation):\n",
            table(("reason", "responsibility"), seller),
            f"Seller reject codes (`reject`, `reject_return`), {len(reject)} of them:\n",
            table(("reject_reason", "needs a note"), reject),
            f"Evidence kinds: {codes(sorted(shipped.evidence_kinds))}.\n",
        )
    )


BLOCKS: dict[str, Callable[[], str]] = {
    "states": states,
    "actions": actions,
    **{f"transitions-{kind.value}": transitions(kind) for kind in Kind},
    **{f"diagram-{kind.value}": diagram(kind) for kind in Kind},
    "deadlines": deadlines,
    "markets": markets,
    "policy-rules": rules,
    "reasons": reasons,
}
