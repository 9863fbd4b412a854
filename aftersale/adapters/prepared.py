"""Statements compiled once by SQLAlchemy and run straight on the driver's cursor.

SQLAlchemy writes the SQL and knows how every column type travels (instants as text on SQLite,
JSON as JSONB on PostgreSQL); what it costs on each call — finding the statement in its cache,
building a result, dispatching events — is 40 to 60 µs, several times what SQLite takes to run
a lookup by key. Every command runs a handful of statements (the case, the order, the event,
the health rollups), so the store compiles them once per dialect, with SQLAlchemy's own type
processing, and runs them on the DBAPI connection of the transaction in hand (a :class:`Link`):
same SQL, same values, a fraction of the cost.

Errors are raised as SQLAlchemy raises them (``IntegrityError``, ``OperationalError``, …), so
:func:`aftersale.adapters.db.translate_errors` treats both paths alike.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import ClauseElement, Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Link:
    """The driver connection a transaction runs on, and what a statement needs to run there."""

    driver: Any  # the DBAPI connection (sqlite3 or psycopg)
    dialect: Dialect
    invalidate: Callable[[BaseException], None]  # a lost connection never goes back to the pool

    @classmethod
    def of(cls, connection: Connection) -> Link:
        """The link under a SQLAlchemy connection (its transaction, its driver connection)."""
        return cls(
            connection.connection.dbapi_connection, connection.dialect, connection.invalidate
        )

    @contextmanager
    def errors(self, sql: str, values: Any = None) -> Iterator[None]:
        """Driver errors raised as the SQLAlchemy errors they would have been."""
        try:
            yield
        except self.dialect.loaded_dbapi.Error as error:
            raise self.translated(error, sql, values) from error

    def translated(self, error: Exception, sql: str, values: Any) -> DBAPIError:
        """The SQLAlchemy error for a driver error; a lost connection is invalidated."""
        lost = self.dialect.is_disconnect(error, self.driver, None)  # type: ignore[arg-type]
        if lost:
            self.invalidate(error)
        wrapped = DBAPIError.instance(
            sql,
            values,
            error,
            self.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=self.dialect,
        )
        assert isinstance(wrapped, DBAPIError)
        return wrapped


@dataclass
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters in the order the driver wants them
    pick: Callable[[Mapping[str, Any]], list[Any]]  # the given values of ``names``, in order
    positional: bool
    binds: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, processor), where any
    fixed: dict[str, Any]  # values the statement carries itself (SQLite's OFFSET 0, say)
    selected: tuple[ColumnElement[Any], ...]
    row: Any  # a namedtuple class over the selected columns (None for writes)
    # (position, processor) of the selected columns that have one, set on the first fetch
    results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None


class Prepared:
    """One Core statement, compiled once per dialect and run on the DBAPI cursor.

    Every parameter must be given by name on every call, and expanding ``IN`` parameters are
    not supported: build one statement per list length (see ``rows.by_keys``).
    """

    def __init__(self, statement: ClauseElement, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = None if columns is None else list(columns)  # an INSERT's columns
        self._compiled: dict[tuple[str, str, Any], _Compiled] = {}

    def rows(self, on: Link | Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        """The selected rows, as named tuples of processed values."""
        link = on if isinstance(on, Link) else Link.of(on)
        compiled = self._for(link.dialect)
        fetched, results = self._run(link, compiled, params or {}, many=False, fetch=True)
        make, found = compiled.row._make, []
        for raw in fetched:
            values = list(raw)
            for index, process in results:  # most columns need no processing at all
                if (value := values[index]) is not None:
                    values[index] = process(value)
            found.append(make(values))
        return found

    def first(self, on: Link | Connection, params: Mapping[str, Any] | None = None) -> Any:
        found = self.rows(on, params)
        return found[0] if found else None

    def run(self, on: Link | Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run a write once; how many rows it changed."""
        link = on if isinstance(on, Link) else Link.of(on)
        return int(self._run(link, self._for(link.dialect), params or {}, many=False))

    def run_many(self, on: Link | Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run a write once per row, in one driver call; how many rows it changed in all."""
        if not rows:
            return 0
        link = on if isinstance(on, Link) else Link.of(on)
        return int(self._run(link, self._for(link.dialect), rows, many=True))

    @staticmethod
    def _run(link: Link, compiled: _Compiled, given: Any, many: bool, fetch: bool = False) -> Any:
        """The fetched rows when ``fetch``, else the count of rows changed."""
        values = (
            [Prepared._values(compiled, row) for row in given]
            if many
            else Prepared._values(compiled, given)
        )
        cursor = link.driver.cursor()
        try:  # not link.errors(): a context manager costs more than a lookup by key
            if many:
                cursor.executemany(compiled.sql, values)
            else:
                cursor.execute(compiled.sql, values)
            if not fetch:
                return cursor.rowcount
            fetched = cursor.fetchall()  # first: in pipeline mode the description comes with it
            if compiled.results is None:  # some result types depend on what the driver says
                compiled.results = _where_any(
                    column.type.dialect_impl(link.dialect).result_processor(link.dialect, code)
                    for column, (_, code, *_) in zip(
                        compiled.selected, cursor.description, strict=True
                    )
                )
            return fetched, compiled.results
        except link.dialect.loaded_dbapi.Error as error:
            raise link.translated(error, compiled.sql, values) from error
        finally:
            cursor.close()

    @staticmethod
    def _values(compiled: _Compiled, given: Mapping[str, Any]) -> Any:
        if compiled.fixed:
            given = {**compiled.fixed, **given}
        processed = compiled.pick(given)
        for index, process in compiled.binds:
            if (value := processed[index]) is not None:
                processed[index] = process(value)
        if compiled.positional:
            return processed
        return dict(zip(compiled.names, processed, strict=True))

    def _for(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver, dialect.server_version_info)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _compile(self.statement, dialect, self.columns)
        return compiled


def _compile(statement: ClauseElement, dialect: Dialect, columns: list[str] | None) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=columns)
    assert isinstance(compiled, SQLCompiler)
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
    binds = _where_any(
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    fixed = {
        name: compiled.binds[name].effective_value
        for name in names
        if not compiled.binds[name].required
    }
    selected: Sequence[ColumnElement[Any]] = list(
        getattr(statement, "selected_columns", None) or ()
    )
    row = namedtuple("Row", [column.key for column in selected]) if selected else None  # type: ignore[misc]
    return _Compiled(
        compiled.string, names, _picker(names), positional, binds, fixed, tuple(selected), row
    )


def _picker(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], list[Any]]:
    """The values of ``names`` as a new list: one C call (``itemgetter``) for every row of an
    ``executemany``, where a list comprehension was a Python frame and a loop a row."""
    if not names:
        return lambda given: []
    if len(names) == 1:  # itemgetter of one name returns the value, not a tuple
        name = names[0]
        return lambda given: [given[name]]
    get = itemgetter(*names)
    return lambda given: list(get(given))


def _where_any(processors: Iterable[Processor]) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """The positions that have a processor, with it."""
    return tuple((index, p) for index, p in enumerate(processors) if p is not None)
