"""aftersale: cancellation, refund-only and return-refund cases as persisted state machines.

>>> import aftersale
>>> engine = aftersale.connect("sqlite://")       # or $AFTERSALE_DB_URL, or aftersale.db
"""

from aftersale.bootstrap import connect
from aftersale.clock import SystemClock, VirtualClock
from aftersale.errors import (
    AfterSaleError,
    CommandRefused,
    Conflict,
    Forbidden,
    InvalidInput,
    NotAllowed,
    NotEligible,
    NotFound,
    OutOfOrder,
    PolicyError,
    StorageError,
)
from aftersale.service.engine import AfterSale

__all__ = [
    "AfterSale",
    "AfterSaleError",
    "CommandRefused",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotAllowed",
    "NotEligible",
    "NotFound",
    "OutOfOrder",
    "PolicyError",
    "StorageError",
    "SystemClock",
    "VirtualClock",
    "connect",
]
