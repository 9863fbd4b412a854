"""``verify``: the database against every invariant, read as one consistent snapshot.

The store hands over every row of one read transaction (so a command committing meanwhile is
wholly in the snapshot or wholly out of it); the domain reads each row defensively and checks
them all (:mod:`aftersale.domain.invariants`). A damaged row is reported, never raised: one bad
row does not stop the report.

The policies table holds two kinds of document: case policies (config/'s policy, timers,
reasons and markets files, keyed by file name) and the governance settings tickets are pinned
to (governance.toml's tables, under a ``governance-…`` version). Each is read as what it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aftersale.config import policy_from_document
from aftersale.domain.invariants import Snapshot, Violation, check_snapshot
from aftersale.domain.policy import Policy
from aftersale.domain.tickets.settings import GovernanceSettings
from aftersale.errors import AfterSaleError
from aftersale.governance_config import settings_from
from aftersale.service.ports import ReadModel

CASE_POLICY_KEY = "policy.toml"  # a case policy document names its files; governance does not
READ_ERRORS = (AfterSaleError, ArithmeticError, LookupError, TypeError, ValueError)
T = TypeVar("T")


def verify(store: ReadModel, in_force: Policy | None = None) -> list[Violation]:
    """Every violation of the invariants in the database (empty when all hold). The policy
    ``in_force`` lends its markets' calendars to tickets' SLAs, beside the stored ones (a
    database whose shops have tickets but no case yet stores none)."""
    snapshot = Snapshot()
    for table, row in store.verification_rows():
        snapshot.add(table, row)
    policies: dict[str, Policy | None] = {}
    governance: dict[str, GovernanceSettings | None] = {}
    unreadable: list[Violation] = []
    for version, document in sorted(snapshot.policy_documents.items()):
        if document is None:  # an unreadable row, reported by the snapshot: of either kind
            policies[version] = governance[version] = None
        elif CASE_POLICY_KEY in document:
            policies[version] = _read(version, document, policy_from_document, unreadable)
        else:
            governance[version] = _read(version, document, _settings, unreadable)
    found = unreadable + check_snapshot(snapshot, policies, governance, in_force)
    if store.outbox_from_another_server():
        found.append(
            Violation(
                "outbox",
                "events",
                "their transaction ids are ahead of this server's (restored from another "
                "server?): new events would stay behind relays' cursors; run `aftersale db "
                "upgrade`, which renumbers them",
            )
        )
    return found


def _settings(document: dict[str, Any]) -> GovernanceSettings:
    """Settings stored when they were checked: read back whatever health.toml now has."""
    return settings_from(document, None)


def _read(
    version: str,
    document: dict[str, Any],
    parse: Callable[[dict[str, Any]], T],
    unreadable: list[Violation],
) -> T | None:
    """The document parsed, or None when it does not parse (reported here)."""
    try:
        return parse(document)
    except READ_ERRORS as error:
        unreadable.append(Violation("unreadable", f"policy {version}", str(error)))
        return None
