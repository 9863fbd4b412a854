"""Every error aftersale raises, in one tree.

    AfterSaleError                 root: catch this to catch everything of ours
    ├── PolicyError                a config/ file is invalid (names the file, the key, the fault)
    ├── WorkflowDefinitionError    a workflow table is unsound (found at load, never at run time)
    ├── StorageError               the database failed or is unreachable (driver errors end here)
    ├── DiagramUnavailable         SVG was asked for but Graphviz is not installed
    └── CommandRefused             a command was refused and nothing was written; ``code`` is
        │                          the public error code of replay.md
        ├── InvalidInput           invalid_input: a field missing or malformed
        ├── OutOfOrder             out_of_order: an instant earlier than what is already recorded
        ├── NotFound               not_found: no such order or case
        ├── Forbidden              forbidden: this actor may not take this action
        ├── NotAllowed             not_allowed: not from the current state
        ├── NotEligible            not_eligible: the order does not allow this kind now
        └── Conflict               conflict: another writer won, or the same id with other fields

Errors about a case carry ``case_id``, ``state`` and ``action`` as attributes (None when they do
not apply) and build their message in ``__init__``. SQLAlchemy, transitions and tomllib errors are
translated at the boundary and never leak out.
"""

from __future__ import annotations


class AfterSaleError(Exception):
    """Root of every aftersale error."""


class PolicyError(AfterSaleError):
    """A policy file in config/ is invalid."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        super().__init__(f"{file}: {key}: {problem}")


class WorkflowDefinitionError(AfterSaleError):
    """A workflow's transition or deadline table is unsound."""


class StorageError(AfterSaleError):
    """The database failed; the message never contains credentials."""


class DiagramUnavailable(AfterSaleError):
    """A picture format needs a tool that is not installed."""


class CommandRefused(AfterSaleError):
    """A command was refused; nothing it asked for was written."""

    code = "refused"

    def __init__(
        self,
        message: str,
        *,
        case_id: str | None = None,
        state: str | None = None,
        action: str | None = None,
    ) -> None:
        self.case_id = case_id
        self.state = state
        self.action = action
        self.message = message
        super().__init__(message)


class InvalidInput(CommandRefused):
    code = "invalid_input"


class OutOfOrder(CommandRefused):
    code = "out_of_order"


class NotFound(CommandRefused):
    code = "not_found"


class Forbidden(CommandRefused):
    code = "forbidden"


class NotAllowed(CommandRefused):
    code = "not_allowed"

    def __init__(
        self, case_id: str, state: str, action: str, why: str = "", *, subject: str = "case"
    ) -> None:
        detail = f": {why}" if why else ""
        super().__init__(
            f"{subject} {case_id}: {action} is not allowed in state {state}{detail}",
            case_id=case_id if subject == "case" else None,
            state=state,
            action=action,
        )


class NotEligible(CommandRefused):
    code = "not_eligible"


class Conflict(CommandRefused):
    code = "conflict"


ERROR_CODES: tuple[str, ...] = (
    "invalid_json",
    InvalidInput.code,
    OutOfOrder.code,
    NotFound.code,
    Forbidden.code,
    NotAllowed.code,
    NotEligible.code,
    Conflict.code,
)
