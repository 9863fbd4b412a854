"""Which policy a case follows: the one in force today, or the one it was pinned to at open.

The policy in force is stored in the database under its version the first time it is used, so
a case opened under it can be rebuilt from the database after config/ has changed: its deadlines
never move because someone edited a file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aftersale.config import policy_from_document
from aftersale.domain.policy import Policy
from aftersale.domain.tickets.settings import VERSION_PREFIX, GovernanceSettings
from aftersale.errors import StorageError
from aftersale.service.ports import UnitOfWork


class PolicyBook:
    def __init__(self, current: Policy, document: Mapping[str, Any]) -> None:
        self.current = current
        self._document = dict(document)
        self._pinned: dict[str, Policy] = {current.version: current}
        self._stored = False

    def in_force(self, uow: UnitOfWork, at: datetime) -> Policy:
        """The current policy, stored (if not yet) in the unit of work that pins a case."""
        if not self._stored:  # once seen committed in the database it never goes away
            version = self.current.version
            self._stored = uow.policies.get(version) is not None
            if not self._stored:
                uow.policies.add(version, self._document, at)
        return self.current

    def pinned(self, uow: UnitOfWork, version: str) -> Policy:
        """The policy a case was opened under, rebuilt from the database when it is old."""
        policy = self._pinned.get(version)
        if policy is None:
            document = uow.policies.get(version)
            if document is None:
                raise StorageError(f"policy version {version} is not stored in this database")
            policy = policy_from_document(document)
            self._pinned[version] = policy
        return policy


def is_governance_version(version: str) -> bool:
    """Whether a version of the policies table is governance settings (tickets pin those)."""
    return version.startswith(VERSION_PREFIX)


class GovernanceBook:
    """The governance settings a ticket follows: those in force when it is issued, stored in
    the policies table under their own version (``governance-…``) the first time they are
    used, and rebuilt from there for a ticket pinned to older ones."""

    def __init__(
        self,
        current: GovernanceSettings,
        document: Mapping[str, Any],
        parse: Callable[[dict[str, Any]], GovernanceSettings],
    ) -> None:
        self.current = current
        self._document = dict(document)
        self._parse = parse
        self._pinned: dict[str, GovernanceSettings] = {current.version: current}
        self._stored = False

    def in_force(self, uow: UnitOfWork, at: datetime) -> GovernanceSettings:
        if not self._stored:
            version = self.current.version
            self._stored = uow.policies.get(version) is not None
            if not self._stored:
                uow.policies.add(version, self._document, at)
        return self.current

    def pinned(self, uow: UnitOfWork, version: str) -> GovernanceSettings:
        settings = self._pinned.get(version)
        if settings is None:
            document = uow.policies.get(version)
            if document is None:
                raise StorageError(f"governance version {version} is not stored in this database")
            settings = self._pinned[version] = self._parse(document)
        return settings
