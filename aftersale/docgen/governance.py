"""docs/governance.md's blocks: the ticket's states, actions and diagram from its workflow
table, every key of the shipped config/governance.toml with what the loader accepts, the
milestones and breach rules in force, and a ticket and a shop as the engine shows them."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from aftersale import governance_config as loader
from aftersale.config import default_config_dir
from aftersale.config_checks import read_toml
from aftersale.docgen import DocsError
from aftersale.docgen.markdown import code, codes, duration, json_block, table
from aftersale.docgen.samples import samples
from aftersale.docgen.workflows import policy
from aftersale.domain.diagram import render
from aftersale.domain.tickets.model import TicketAction, TicketDeadline, TicketState
from aftersale.domain.tickets.rules import ACTION_FIELDS, action_fields
from aftersale.domain.tickets.settings import CLEARANCE_NOTICE, GovernanceSettings
from aftersale.domain.workflows.ticket import TICKET, TICKET_REQUESTERS
from aftersale.errors import InvalidInput, PolicyError
from aftersale.service.governance_api import Tickets

ENGINE = "the engine (`system`)"
# What each key of governance.toml is for; a key of the shipped file that is not here (or one
# here it no longer has) is an error, so a new key cannot go undocumented.
MEANINGS = {
    "appeals.first_window": "`issued`: how long the seller has to appeal, from the issue",
    "appeals.second_window": "`upheld`: how long the seller has for the second (last) appeal, "
    "from the uphold",
    "appeals.reply_business_days": "`under_review`: the platform's SLA, in business days of the "
    "shop's market, from each entry; past it, one `ticket.reply_overdue`",
    "points.window": "how long a ticket counts toward the shop's active points, from its issue",
    "milestones.KIND.points": "active points at or above which the milestone is crossed (one "
    "milestone a number)",
    "milestones.KIND.lasts": "how long its punishment lasts (every milestone but "
    "`clearance_notice`)",
    "breach_rules.ID.metric": "the metric of health.toml the rule watches",
    "breach_rules.ID.worse_than": "the threshold: greater is worse for a `lower_is_better` "
    "metric, smaller for a `higher_is_better` one",
    "breach_rules.ID.min_denominator": "the fewest orders (or messages) the reading must count",
    "breach_rules.ID.category": "the category of the tickets it issues",
    "breach_rules.ID.points": "the points of each ticket it issues",
    "breach_rules.ID.cooldown": "no second ticket of the rule for the shop within this of its "
    "last one",
}


@cache
def settings() -> GovernanceSettings:
    """The settings of the shipped config/governance.toml (never a deployment's)."""
    return loader.load_governance()


@cache
def document() -> dict[str, Any]:
    return read_toml(default_config_dir(), loader.FILE)


def _market_settings() -> Any:
    shipped = policy()
    return shipped.market(next(iter(shipped.markets)))


# -- states, actions, diagram -----------------------------------------------------------------


def _requested_by(action: TicketAction) -> str:
    actors = TICKET_REQUESTERS.get(action, frozenset())
    return codes(sorted(actors)) if actors else ENGINE


def _deadline(state: TicketState) -> tuple[str, str]:
    """(the default deadline of a state, what it does) from the shipped settings."""
    shipped = settings()
    entered = datetime(2026, 3, 2, tzinfo=UTC)
    due, does = shipped.deadline(state, entered, _market_settings())
    if due is None or does is None:
        return "—", "—"
    if does is TicketDeadline.reply_overdue:
        days = shipped.reply_business_days
        return f"SLA: {days} business days from entering it", "`ticket.reply_overdue`, no change"
    dest = next(t.dest for t in TICKET.transitions if t.action.value == does.value)
    return f"{duration(due - entered)} from entering it", f"{code(does)} → {code(dest)}"


def states() -> str:
    rows = []
    for state in TICKET.states:
        if state in TICKET.terminal:
            rows.append((code(state), "terminal", "—", "—", "—"))
            continue
        acting = [
            f"{code(action)} ({_requested_by(action)})"
            for action in TICKET.actions_from(state)
            if TICKET_REQUESTERS.get(action)
        ]
        rows.append((code(state), "waiting", "; ".join(acting), *_deadline(state)))
    header = ("state", "waiting or terminal", "who may act", "deadline (default)", "at it")
    return table(header, rows)


def _when(transition: Any) -> str:
    """When a guarded transition applies, found by asking its guard about each round."""
    if transition.guard is None:
        return ""
    rounds = [n for n in (1, 2) if transition.guard({}, SimpleNamespace(appeals=n)) is None]
    return f"appeal round {', '.join(str(n) for n in rounds)}"


def required(action: TicketAction) -> frozenset[str]:
    """The fields without which the engine refuses ``action`` (found by leaving each out)."""
    kinds = _market_settings().evidence_kinds
    sample = {"note": "a note", "evidence": [{"kind": sorted(kinds)[0], "uri": "https://e/1"}]}
    allowed = ACTION_FIELDS.get(action, frozenset())
    full = {key: value for key, value in sample.items() if key in allowed}
    action_fields(action, full, kinds)  # every field given: accepted
    needed = set()
    for key in allowed:
        try:
            action_fields(action, {k: v for k, v in full.items() if k != key}, kinds)
        except InvalidInput:
            needed.add(key)
    return frozenset(needed)


def _fields(action: TicketAction) -> str:
    if not TICKET_REQUESTERS.get(action):
        return "—"
    allowed, needed = ACTION_FIELDS.get(action, frozenset()), required(action)
    optional = codes(sorted((allowed - needed) | {"actor_id"}))
    return f"{codes(sorted(needed)) + '; ' if needed else ''}optional {optional}"


def _issue_fields() -> str:
    """issue_ticket's own parameters: those it needs, then the optional ones (``at`` aside)."""
    params = inspect.signature(Tickets.issue_ticket).parameters
    given = [name for name in params if name not in ("self", "at")]
    needed = [name for name in given if params[name].default is inspect.Parameter.empty]
    return f"{codes(needed)}; optional {codes(n for n in given if n not in needed)}"


def actions() -> str:
    issue = (
        code(TicketAction.issue),
        f"{_requested_by(TicketAction.issue)} (`issue_ticket`); {ENGINE} for a breach rule",
        f"null → {code(TICKET.initial)}",
        "",
        _issue_fields(),
    )
    rows = [issue]
    for action in TicketAction:
        for t in (t for t in TICKET.transitions if t.action is action):
            move = f"{code(t.source)} → {code(t.dest)}"
            rows.append((code(action), _requested_by(action), move, _when(t), _fields(action)))
    return table(("action", "requested by", "from → to", "when", "fields"), rows)


def diagram() -> str:
    return f"```mermaid\n{render('ticket')}```\n"


# -- config/governance.toml -------------------------------------------------------------------


def _paths() -> dict[str, tuple[str, ...]]:
    """Every key of the shipped file, a milestone's and a rule's once each (under the names
    KIND and ID), with where it sits in the document."""
    doc, found = document(), dict[str, tuple[str, ...]]()
    for table_name, values in doc.items():
        entries = list(values.items())
        if table_name in ("milestones", "breach_rules"):
            # the first entry with the most keys (a milestone with `lasts`)
            name, fields = max(entries, key=lambda entry: len(entry[1]))
            placeholder = "KIND" if table_name == "milestones" else "ID"
            for key in fields:
                found[f"{table_name}.{placeholder}.{key}"] = (table_name, name, key)
        else:
            for key, _ in entries:
                found[f"{table_name}.{key}"] = (table_name, key)
    return found


def _accepted(path: tuple[str, ...]) -> str:
    """What the loader accepts at ``path``, in its own words: asked by leaving it out of the
    shipped document."""
    doc = copy.deepcopy(document())
    *tables, key = path
    holder = doc
    for name in tables:
        holder = holder[name]
    holder[key] = None
    try:
        loader.settings_from(doc, None)
    except PolicyError as refused:
        return refused.problem.removeprefix("missing: must be ")
    raise DocsError(f"governance.toml accepts no {'.'.join(path)}: it is not checked")


def _default(key: str, path: tuple[str, ...]) -> str:
    if len(path) == 2:
        return code(document()[path[0]][path[1]])
    return "each milestone's below" if path[0] == "milestones" else "each rule's below"


def keys() -> str:
    paths = _paths()
    if set(paths) != set(MEANINGS):
        differ = sorted(set(paths) ^ set(MEANINGS))
        raise DocsError(f"governance.toml's keys changed ({', '.join(differ)}): update MEANINGS")
    rows = [
        (code(key), _default(key, path), _accepted(path), MEANINGS[key])
        for key, path in paths.items()
    ]
    return table(("key", "default", "accepted", "what it does"), rows)


def milestones() -> str:
    rows = [
        (
            f"≥ {milestone.points}",
            code(milestone.kind),
            "the shop's clearance notice (not yet built)"
            if milestone.kind == CLEARANCE_NOTICE or milestone.lasts is None
            else f"a punishment for {duration(milestone.lasts)}",
        )
        for milestone in settings().milestones
    ]
    return table(("active points", "milestone", "starts"), rows)


def breach_rules() -> str:
    rows = [
        (
            code(rule.rule_id),
            code(rule.metric),
            f"{rule.worse_than:g}",
            rule.min_denominator,
            code(rule.category),
            rule.points,
            duration(rule.cooldown),
        )
        for rule in settings().breach_rules
    ]
    header = ("rule", "metric", "worse than", "min denominator", "category", "points")
    return table((*header, "cooldown"), rows)


def version() -> str:
    return f"The shipped `governance.toml`'s version: {code(settings().version)}.\n"


# -- views ------------------------------------------------------------------------------------


def ticket_example() -> str:
    return json_block(samples().ticket)


def shop_example() -> str:
    return json_block(samples().shop)


BLOCKS: dict[str, Callable[[], str]] = {
    "ticket-states": states,
    "ticket-actions": actions,
    "diagram-ticket": diagram,
    "governance-keys": keys,
    "governance-milestones": milestones,
    "governance-breach-rules": breach_rules,
    "governance-version": version,
    "ticket-view-example": ticket_example,
    "shop-view-example": shop_example,
}
