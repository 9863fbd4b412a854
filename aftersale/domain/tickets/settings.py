"""The governance policy of config/governance.toml as frozen data (read by
:mod:`aftersale.governance_config`), and the deadlines it sets for a ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aftersale.clock import add_business_days
from aftersale.domain.policy import Market
from aftersale.domain.tickets.model import Category, TicketDeadline, TicketState

CLEARANCE_NOTICE = "clearance_notice"  # the milestone that notifies the shop (no duration)
MAX_TICKET_POINTS = 100  # a ticket's points: a whole number from 1 to 100
# governance settings are stored beside the case policies, under versions named so
VERSION_PREFIX = "governance-"
# what the tables keep of a milestone's kind and of a ticket's source ("rule:<id>")
MAX_KIND_LENGTH = 64
MAX_RULE_ID_LENGTH = 75


@dataclass(frozen=True)
class BreachRule:
    """Fires when ``metric`` is worse than ``worse_than`` over at least ``min_denominator``."""

    rule_id: str
    metric: str
    worse_than: float
    min_denominator: int
    category: Category
    points: int
    cooldown: timedelta


@dataclass(frozen=True)
class Milestone:
    """Active points at or above ``points`` start ``kind`` for ``lasts`` (None: the notice)."""

    kind: str
    points: int
    lasts: timedelta | None


@dataclass(frozen=True)
class GovernanceSettings:
    version: str
    first_appeal_window: timedelta
    second_appeal_window: timedelta
    reply_business_days: int
    points_window: timedelta
    milestones: tuple[Milestone, ...]  # ascending by points
    breach_rules: tuple[BreachRule, ...]

    def deadline(
        self, state: TicketState, entered_at: datetime, market: Market
    ) -> tuple[datetime | None, TicketDeadline | None]:
        """The deadline a ticket entering ``state`` at ``entered_at`` gets, and what it does."""
        if state is TicketState.issued:
            return entered_at + self.first_appeal_window, TicketDeadline.appeal_window_timeout
        if state is TicketState.upheld:
            return entered_at + self.second_appeal_window, TicketDeadline.appeal_window_timeout
        if state is TicketState.under_review:
            due = add_business_days(
                entered_at, self.reply_business_days, market.timezone, market.is_business_day
            )
            return due, TicketDeadline.reply_overdue
        return None, None
