"""The database an operator names, on the real command line: only ``aftersale db upgrade``
creates or migrates a schema; every other command on a database without this release's schema
exits 3 and says what to do; ``postgres://`` URLs work; the PostgreSQL extra is named when
missing; ``--version``; snake_case error codes."""

from __future__ import annotations

import importlib.metadata
import json
import os
import sqlite3
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

import aftersale
from aftersale.adapters.db import head_revision, make_engine, upgrade
from tests.conftest import pg_server_url

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "postgresql://aftersale:s3cr3t@127.0.0.1:1/shop"
# Every command that reads or acts on an existing database (none may create one).
READERS = [
    ["status"],
    ["status", "--json"],
    ["case", "list"],
    ["case", "show", "RR-1"],
    ["case", "act", "RR-1", "approve", "--actor", "seller"],
    [
        "case",
        "open",
        "RR-9",
        "US-1",
        *("--kind", "refund_only", "--actor", "buyer", "--reason", "x"),
    ],
    ["case", "retry", "RR-1"],
    ["order", "show", "US-1"],
    ["verify"],
    ["health", "shop-a"],
    ["health", "rebuild"],
    ["daemon", "--once"],
]


def _run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    plain = {k: v for k, v in os.environ.items() if k != "AFTERSALE_DB_URL"}
    return subprocess.run(
        [sys.executable, "-m", "aftersale", *args],
        cwd=cwd,
        env={**plain, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _says_run_db_upgrade(done: subprocess.CompletedProcess[str], why: str) -> None:
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert why in done.stderr and "`aftersale db upgrade`" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty folder the commands run in (where the default aftersale.db would go)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    "args", [["status"], ["daemon", "--once"], ["db", "upgrade"]], ids=" ".join
)
def test_memory_exits_3_saying_why_for_a_command_is_a_process_of_its_own(
    workdir: Path, args: list[str]
) -> None:
    """``memory://`` lives in one process: the daemon and every command (each a process of
    its own) refuse it, from $AFTERSALE_DB_URL too, with a message and no file."""
    done = _run(workdir, *args, env={"AFTERSALE_DB_URL": "memory://"})
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "cannot use memory://" in done.stderr and "Traceback" not in done.stderr
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_a_command_on_a_missing_sqlite_file_exits_3_and_creates_no_file(
    workdir: Path, args: list[str]
) -> None:
    done = _run(workdir, *args, "--db", "sqlite:///mistyped.db")
    _says_run_db_upgrade(done, "no such database file")
    assert list(workdir.iterdir()) == []
    if "--json" in args:
        assert json.loads(done.stdout)["error"]["code"] == "schema_missing"


def test_the_default_database_is_not_created_by_status_but_by_db_upgrade(workdir: Path) -> None:
    _says_run_db_upgrade(_run(workdir, "status"), "sqlite:///aftersale.db")
    assert list(workdir.iterdir()) == []
    assert "upgraded" in _run(workdir, "db", "upgrade").stdout
    done = _run(workdir, "status")
    assert done.returncode == 0 and "overdue: 0" in done.stdout, done.stderr


def test_an_empty_sqlite_file_gets_no_tables(workdir: Path) -> None:
    (workdir / "other.db").touch()
    _says_run_db_upgrade(
        _run(workdir, "verify", "--db", "sqlite:///other.db"), "no aftersale schema"
    )
    with sqlite3.connect(workdir / "other.db") as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_the_library_reads_without_migrating_only_where_the_schema_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    with pytest.raises(aftersale.SchemaMissing, match="aftersale db upgrade"):
        aftersale.connect(url, migrate=False)
    assert not (tmp_path / "embedded.db").exists()
    aftersale.connect(url)  # the library's default migrates
    assert aftersale.connect(url, migrate=False).status()["overdue"] == 0


@pytest.fixture
def older_schema(sql_db_url: str) -> str:
    """A database (SQLite file or PostgreSQL schema) left at revision 0004 by a release
    before the outbox's transaction ids, through the project's own migrations."""
    engine = make_engine(sql_db_url)
    upgrade(engine, "0004")
    engine.dispose()
    return sql_db_url


@pytest.mark.parametrize(
    "args", [["status"], ["case", "list"], ["daemon", "--once"], ["daemon"]], ids=" ".join
)
def test_an_older_schema_exits_3_saying_so_until_db_upgrade(
    older_schema: str, tmp_path: Path, args: list[str]
) -> None:
    done = _run(tmp_path, *args, "--db", older_schema)
    _says_run_db_upgrade(done, f"revision 0004, older than this release's {head_revision()}")
    assert "no such table" not in done.stderr
    assert "upgraded" in _run(tmp_path, "db", "upgrade", "--db", older_schema).stdout
    done = _run(tmp_path, "status", "--db", older_schema)
    assert done.returncode == 0, done.stderr


def test_a_later_releases_schema_is_refused_and_never_downgraded(
    sql_db_url: str, tmp_path: Path
) -> None:
    assert _run(tmp_path, "db", "upgrade", "--db", sql_db_url).returncode == 0
    engine = sqlalchemy.create_engine(sql_db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    for args in (["status", "--json"], ["db", "upgrade"]):
        done = _run(tmp_path, *args, "--db", sql_db_url)
        assert done.returncode == 3, done.stderr
        assert "revision 0099, newer than this release's" in done.stderr
    refused = _run(tmp_path, "status", "--json", "--db", sql_db_url)
    assert json.loads(refused.stdout)["error"]["code"] == "schema_newer"
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [
            ("0099",)
        ]
    engine.dispose()


@pytest.fixture
def empty_pg_database() -> Iterator[sqlalchemy.URL]:
    """A PostgreSQL database of its own, empty, dropped afterwards."""
    server = sqlalchemy.make_url(pg_server_url()).set(drivername="postgresql+psycopg")
    name = f"aftersale_e2e_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield server.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _tables(url: sqlalchemy.URL) -> list[str]:
    engine = sqlalchemy.create_engine(url)
    try:
        return sqlalchemy.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _as(url: sqlalchemy.URL, scheme: str) -> str:
    return url.set(drivername=scheme).render_as_string(hide_password=False)


@pytest.mark.postgres
def test_an_empty_postgres_database_gets_no_tables_until_db_upgrade(
    empty_pg_database: sqlalchemy.URL, tmp_path: Path
) -> None:
    url = _as(empty_pg_database, "postgresql")
    for args in (["status"], ["case", "list"], ["verify"], ["daemon", "--once"], ["daemon"]):
        _says_run_db_upgrade(_run(tmp_path, *args, "--db", url), "no aftersale schema")
    assert _tables(empty_pg_database) == []


@pytest.mark.postgres
def test_a_bare_postgresql_url_creates_no_tables_where_libpq_points(
    empty_pg_database: sqlalchemy.URL, tmp_path: Path
) -> None:
    where = {
        "PGHOST": empty_pg_database.host or "127.0.0.1",
        "PGPORT": str(empty_pg_database.port or 5432),
        "PGUSER": empty_pg_database.username or "",
        "PGDATABASE": empty_pg_database.database or "",
    }
    done = _run(tmp_path, "case", "list", "--db", "postgresql://", env=where)
    _says_run_db_upgrade(done, "no aftersale schema")
    assert _tables(empty_pg_database) == []


@pytest.mark.postgres
def test_a_postgres_url_of_a_paas_works_for_db_upgrade_and_status(
    empty_pg_database: sqlalchemy.URL, tmp_path: Path
) -> None:
    url = _as(empty_pg_database, "postgres")  # what Heroku and Render give
    upgraded = _run(tmp_path, "db", "upgrade", "--db", url)
    assert upgraded.returncode == 0 and "upgraded" in upgraded.stdout, upgraded.stderr
    assert "cases" in _tables(empty_pg_database)
    done = _run(tmp_path, "status", "--json", "--db", url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["overdue"] == 0
    assert _run(tmp_path, "daemon", "--once", "--db", url).returncode == 0


def test_without_the_postgres_extra_the_error_names_it(tmp_path: Path) -> None:
    without_psycopg = (
        "import sys; sys.modules['psycopg'] = None; "  # as if it were not installed
        "sys.argv = ['aftersale', *sys.argv[1:]]; "
        "from aftersale.cli import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", without_psycopg, "status", "--json", "--db", UNREACHABLE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "pip install 'aftersale[postgres]'" in done.stderr
    assert json.loads(done.stdout)["error"]["code"] == "storage_error"
    assert "Traceback" not in done.stderr and "s3cr3t" not in done.stdout + done.stderr


def test_a_storage_failure_reports_the_snake_case_code_storage_error(tmp_path: Path) -> None:
    done = _run(tmp_path, "case", "list", "--json", "--db", UNREACHABLE)
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["error"]["code"] == "storage_error"
    assert "error [storage_error]" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["case", "show", ""],
        ["order", "show", ""],
        ["case", "retry", ""],
        ["case", "act", "RR-1", "approve", "--actor", "seller", "--at", "next tuesday"],
        ["case", "list", "--kind", "exchange"],
    ],
    ids=" ".join,
)
def test_bad_options_and_arguments_exit_2(workdir: Path, args: list[str]) -> None:
    assert _run(workdir, "db", "upgrade").returncode == 0
    done = _run(workdir, *args, "--json")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr


def test_version_is_the_installed_packages_and_pyprojects(tmp_path: Path) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = declared["project"]["version"]
    assert importlib.metadata.version("aftersale") == aftersale.__version__ == version
    done = _run(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout == f"aftersale {version}\n", done.stderr
