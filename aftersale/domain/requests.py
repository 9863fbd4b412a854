"""The fields of a command, checked against the policy: a refused field names itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aftersale.domain import validation as check
from aftersale.domain.lines import parse_case_lines
from aftersale.domain.model import Action, Actor, Kind, Outcome, Responsibility
from aftersale.domain.policy import Market, Policy
from aftersale.errors import InvalidInput

# Which fields each requested action takes beyond case_id, action, actor and actor_id.
ACTION_FIELDS: Mapping[Action, frozenset[str]] = {
    Action.approve: frozenset({"note"}),
    Action.reject: frozenset({"reject_reason", "note", "evidence"}),
    Action.withdraw: frozenset({"note"}),
    Action.request_pod: frozenset({"note"}),
    Action.submit_pod: frozenset({"evidence", "note"}),
    Action.escalate: frozenset({"note", "evidence"}),
    Action.rule: frozenset({"outcome", "responsibility", "note"}),
    Action.ship_return: frozenset({"tracking", "shipping_cost"}),
    Action.confirm_receipt: frozenset({"note"}),
    Action.refund: frozenset({"note"}),
    Action.reject_return: frozenset({"reject_reason", "evidence", "note"}),
    Action.offer_partial_refund: frozenset({"amount", "note"}),
    Action.decline_offer: frozenset({"note"}),
}
MAX_DECIMALS = 4
OPEN_FIELDS = frozenset({"amount", "item_unused", "evidence", "note", "lines"})


@dataclass(frozen=True)
class OpenRequest:
    case_id: str
    order_id: str
    kind: Kind
    actor: Actor
    reason: str
    actor_id: str | None
    extras: dict[str, Any]  # amount, item_unused, evidence, note, lines exactly as given

    def fingerprint(self) -> dict[str, Any]:
        """What makes two opens the same request (everything but ``at``)."""
        return {
            "order_id": self.order_id,
            "kind": self.kind.value,
            "actor": self.actor.value,
            "actor_id": self.actor_id,
            "reason": self.reason,
            **{key: _plain(value) for key, value in sorted(self.extras.items())},
        }


def parse_open(policy: Policy, fields: Mapping[str, Any]) -> OpenRequest:
    """The shape of an open: ids, kind, actor and a reason code of some list."""
    case_id = check.identifier(fields.get("case_id"), "case_id")
    order_id = check.identifier(fields.get("order_id"), "order_id")
    kind = Kind(check.choice(fields.get("kind"), "kind", frozenset(Kind.__members__)))
    actor = Actor(check.choice(fields.get("actor"), "actor", frozenset(Actor.__members__)))
    reasons = policy.buyer_reasons.keys() | policy.seller_cancellation_reasons.keys()
    reason = check.choice(fields.get("reason"), "reason", frozenset(reasons))
    actor_id = fields.get("actor_id")
    if actor_id is not None:
        actor_id = check.identifier(actor_id, "actor_id")
    extras = {key: fields[key] for key in OPEN_FIELDS if fields.get(key) is not None}
    if "amount" in extras:
        extras["amount"] = check.amount(extras["amount"], "amount", MAX_DECIMALS)
    if "item_unused" in extras and not isinstance(extras["item_unused"], bool):
        raise InvalidInput("item_unused must be true or false")
    if "note" in extras:
        check.text(extras["note"], "note")
    if "lines" in extras:
        extras["lines"] = parse_case_lines(extras["lines"])
    return OpenRequest(case_id, order_id, kind, actor, reason, actor_id, extras)


def parse_action_fields(
    policy: Policy, market: Market, action: Action, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The checked fields of one action, ready to record; unknown fields are refused."""
    allowed = ACTION_FIELDS.get(action, frozenset())
    given = {key: value for key, value in fields.items() if value is not None}
    for key in given:
        if key not in allowed:
            raise InvalidInput(f"field {key} does not apply to action {action}")
    out: dict[str, Any] = {}
    if "reject_reason" in allowed:
        out["reject_reason"] = check.choice(
            given.get("reject_reason"), "reject_reason", policy.reject_reasons
        )
    if "note" in given:
        limit = check.MAX_NOTE_LENGTH  # every note (replay.md); reasons.toml may say less
        if out.get("reject_reason") in policy.reject_reasons_needing_note:
            limit = min(limit, policy.reject_note_max_length)
        out["note"] = check.text(given["note"], "note", limit)
    if (
        out.get("reject_reason") in policy.reject_reasons_needing_note
        and not out.get("note", "").strip()
    ):
        raise InvalidInput(f"reject_reason {out['reject_reason']} needs a note")
    if "evidence" in allowed:
        needed = action in (Action.submit_pod, Action.reject_return)
        items = check.evidence(given.get("evidence"), market.evidence_kinds, required=needed)
        if items:
            out["evidence"] = [item.as_dict() for item in items]
    if action is Action.ship_return:
        tracking = check.text(given.get("tracking"), "tracking", check.MAX_TRACKING_LENGTH)
        if not tracking.strip():
            raise InvalidInput("tracking must not be empty")
        out["tracking"] = tracking
    if action is Action.ship_return and "shipping_cost" in given:
        out["shipping_cost"] = check.amount(
            given["shipping_cost"], "shipping_cost", market.currency_decimals, zero=True
        )
    if action is Action.offer_partial_refund:
        out["amount"] = check.amount(given.get("amount"), "amount", market.currency_decimals)
    if action is Action.rule:
        outcomes = {o.value for o in Outcome}
        out["outcome"] = check.choice(given.get("outcome"), "outcome", frozenset(outcomes))
        if "responsibility" in given:
            out["responsibility"] = check.choice(
                given["responsibility"], "responsibility", frozenset(Responsibility.__members__)
            )
    return out


def requested_amount(request: OpenRequest, decimals: int) -> Decimal | None:
    raw = request.extras.get("amount")
    if raw is None:
        return None
    return check.amount(raw, "amount", decimals)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.normalize())
    return value
