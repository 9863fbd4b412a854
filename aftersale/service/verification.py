"""``verify``: the database against every invariant, read as one consistent snapshot.

The store hands over every row of one read transaction (so a command committing meanwhile is
wholly in the snapshot or wholly out of it); the domain reads each row defensively and checks
them all (:mod:`aftersale.domain.invariants`). A damaged row is reported, never raised: one bad
row does not stop the report.
"""

from __future__ import annotations

from aftersale.config import policy_from_document
from aftersale.domain.invariants import Snapshot, Violation, check_snapshot
from aftersale.domain.policy import Policy
from aftersale.errors import AfterSaleError
from aftersale.service.ports import ReadModel


def verify(store: ReadModel) -> list[Violation]:
    """Every violation of the invariants in the database (empty when all hold)."""
    snapshot = Snapshot()
    for table, row in store.verification_rows():
        snapshot.add(table, row)
    policies: dict[str, Policy | None] = {}
    unreadable: list[Violation] = []
    for version, document in sorted(snapshot.policy_documents.items()):
        policies[version] = None
        if document is None:
            continue  # reported by the snapshot
        try:
            policies[version] = policy_from_document(document)
        except (AfterSaleError, ArithmeticError, LookupError, TypeError, ValueError) as error:
            unreadable.append(Violation("unreadable", f"policy {version}", str(error)))
    found = unreadable + check_snapshot(snapshot, policies)
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
