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
    SchemaMissing,
    SchemaNewer,
    SchemaOutdated,
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
    "SchemaMissing",
    "SchemaNewer",
    "SchemaOutdated",
    "StorageError",
    "SystemClock",
    "VirtualClock",
    "__version__",
    "connect",
]


def __getattr__(name: str) -> str:
    """``aftersale.__version__``: the installed package's version, read when first asked for
    (no work at import time)."""
    if name == "__version__":
        from importlib.metadata import version

        return version("aftersale")
    raise AttributeError(f"module 'aftersale' has no attribute {name!r}")
