"""A violation, and the words the checks share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aftersale.clock import iso
from aftersale.domain.model import State

MONEY_BACK = frozenset({State.refunded, State.cancelled})


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str  # "case C1", "order O1", "event 42", "message M1" or "policy V"
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "subject": self.subject, "detail": self.detail}


def when(instant: datetime | None) -> str:
    """An instant as every output of the engine writes it, or "none"."""
    return iso(instant) or "none"
