"""Every error aftersale raises, in one tree.

    AfterSaleError                 root: catch this to catch everything of ours
    ├── PolicyError                a config/ file is invalid (names the file, the key, the fault)
    ├── WorkflowDefinitionError    a workflow table is unsound (found at load, never at run time)
    ├── StorageError               the database failed or is unreachable (driver errors end here)
    │   ├── SchemaMissing          schema_missing: no aftersale schema there (a wrong --db?)
    │   ├── SchemaOutdated         schema_outdated: an older release's schema: `db upgrade` it
    │   └── SchemaNewer            schema_newer: a later release's schema: run that release
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

Every error has a snake_case ``code`` (the CLI's ``--json`` reports it). Errors about a case
carry ``case_id``, ``state`` and ``action`` as attributes (None when they do not apply) and build
their message in ``__init__``, like the schema errors (``database``, ``found``, ``expected``).
SQLAlchemy, transitions and tomllib errors are translated at the boundary and never leak
out.
"""

from __future__ import annotations


class AfterSaleError(Exception):
    """Root of every aftersale error."""


class PolicyError(AfterSaleError):
    """A policy file in config/ is invalid."""

    code = "policy_error"

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        super().__init__(f"{file}: {key}: {problem}")


class WorkflowDefinitionError(AfterSaleError):
    """A workflow's transition or deadline table is unsound."""

    code = "workflow_definition_error"


class StorageError(AfterSaleError):
    """The database failed; the message never contains credentials."""

    code = "storage_error"


class SchemaMissing(StorageError):
    """The database has no aftersale schema: only ``aftersale db upgrade`` (or
    ``connect(migrate=True)``) creates one, never a command that reads."""

    code = "schema_missing"

    def __init__(
        self, database: str, *, no_file: bool = False, foreign_revision: str | None = None
    ) -> None:
        self.database = database
        self.foreign_revision = foreign_revision
        if foreign_revision is not None:
            message = (
                f"another application's schema (alembic revision {foreign_revision!r}), not "
                "aftersale's; give aftersale a database of its own and run "
                "`aftersale db upgrade` there"
            )
        else:
            what = "no such database file" if no_file else "no aftersale schema"
            message = f"{what}; `aftersale db upgrade` creates it (check --db first)"
        super().__init__(f"{database}: {message}")


class SchemaOutdated(StorageError):
    """The database's schema is an older revision than this release's."""

    code = "schema_outdated"

    def __init__(self, database: str, found: str, expected: str) -> None:
        self.database, self.found, self.expected = database, found, expected
        super().__init__(
            f"{database}: the aftersale schema is at revision {found}, older than this "
            f"release's {expected}; run `aftersale db upgrade` (with the daemons stopped)"
        )


class SchemaNewer(StorageError):
    """The database's schema was upgraded by a later release than this one."""

    code = "schema_newer"

    def __init__(self, database: str, found: str, expected: str) -> None:
        self.database, self.found, self.expected = database, found, expected
        super().__init__(
            f"{database}: the aftersale schema is at revision {found}, newer than this "
            f"release's {expected}: a later aftersale upgraded it; run that release here "
            "(schemas are never downgraded)"
        )


class DiagramUnavailable(AfterSaleError):
    """A picture format needs a tool that is not installed."""

    code = "diagram_unavailable"


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
