"""The ``aftersale`` command line. It only calls the façade, the replay and the renderers.

Exit status, for every command, from one table (``cli_options.EXIT_STATUS``): 0 done, 1 a
command or line was refused, 2 bad options, an unreadable file or an invalid policy, 3 the
database failed. The ``health`` group lives in ``cli_health``; the ``ticket`` and ``shop``
groups in ``cli_ticket``.
"""

from __future__ import annotations

import logging
import secrets
import sys
from datetime import date, timedelta

import click

from aftersale import daemon_log, render
from aftersale.bootstrap import (
    daemon_engine,
    database_url,
    lasting_url,
    shown_url,
    upgrade_database,
)
from aftersale.cli_case import case
from aftersale.cli_health import health
from aftersale.cli_options import (
    EXIT_STATUS,
    KINDS,
    AfterSaleGroup,
    config_option,
    db_option,
    error_code,
    json_option,
    operator_engine,
    options_checked,
    parse_instant,
)
from aftersale.cli_policy import policy
from aftersale.cli_ticket import shop, ticket
from aftersale.daemon_workers import MAX_WORKERS
from aftersale.errors import AfterSaleError
from aftersale.replay import ReplayResult, example_names, read_scenario, replay


@click.group(cls=AfterSaleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    package_name="aftersale", prog_name="aftersale", message="%(prog)s %(version)s"
)
def cli() -> None:
    """aftersale: after-sale cases as state machines with deadlines, events and a health score."""
    logging.getLogger("transitions").setLevel(logging.WARNING)


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--example", default=None, help="Replay a scenario shipped with aftersale.")
@click.option("--db", "db_url", default=None, help="Database URL (default: in-memory SQLite).")
@config_option
@click.option("--until", default=None, help="Take deadlines up to this ISO instant at the end.")
@json_option
def replay_command(
    file: str | None,
    example: str | None,
    db_url: str | None,
    config_dir: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Replay a JSON Lines scenario on a virtual clock (in-memory SQLite unless --db)."""
    if (file is None) == (example is None):
        names = ", ".join(example_names())
        raise click.UsageError(f"give a FILE or --example NAME (examples: {names})")
    end = None if until is None else parse_instant(until, "--until")
    result = replay(read_scenario(file, example), db_url=db_url, until=end, config_dir=config_dir)
    _print_replay(result, as_json)
    sys.exit(result.exit_status)


replay_command.name = "replay"


@cli.command()
@db_option
@click.option("--seed", default=7, show_default=True, help="Which month to play.")
@json_option
def demo(db_url: str | None, seed: int, as_json: bool) -> None:
    """Play a month of three shops through the engine and show what happened to every case."""
    from aftersale.demo import SHOPS, look_closer, month_scenario, played_until

    start = date(2026, 3, 1)
    prefix = f"demo{secrets.token_hex(2)}-"
    lines = month_scenario(seed=seed, start=start, prefix=prefix)
    until = played_until(start)
    url = database_url(db_url)
    result = replay(lines, db_url=url, until=until)
    if as_json:
        render.print_json(result.as_dict())
        return
    render.console.print(
        f"[bold]A month of after-sale[/] (seed {seed}): {len(lines)} facts and actions, "
        f"{len(result.cases)} cases, {len(result.events)} events, written to "
        f"{shown_url(url)} with ids starting {prefix}"
    )
    output = result.as_dict()
    render.console.print(render.every_case_table(output["cases"]))
    render.console.print(render.shop_table(output["cases"]))
    _print_replay(result, as_json=False)  # with each shop's health as of the demo's end
    shop_id = SHOPS[1].shop_id  # the silent seller: its timers decided
    case_id = next((c["case_id"] for c in output["cases"] if c["shop_id"] == shop_id), "ID")
    render.console.print("Look closer:", markup=False)
    for command in look_closer(shown_url(url), shop_id, case_id, until):
        render.console.print(f"  {command}", markup=False, soft_wrap=True)


@cli.command()
@click.argument("kind", required=False, type=click.Choice([*KINDS, "ticket"]))
@click.option("--format", "fmt", default="mermaid", type=click.Choice(["mermaid", "svg"]))
def diagram(kind: str | None, fmt: str) -> None:
    """Draw a workflow (the three case kinds when no KIND; or ticket) from the machines."""
    from aftersale.domain.diagram import render as draw

    for name in [kind] if kind else list(KINDS):
        if not kind and fmt == "mermaid":
            click.echo(f"%% {name}")
        click.echo(draw(name, fmt))


@cli.group()
def db() -> None:
    """The database schema."""


@db.command()
@db_option
@config_option
def upgrade(db_url: str | None, config_dir: str | None) -> None:
    """Create or upgrade the schema to the newest migration."""
    applied, rollups_current, renumbered = upgrade_database(db_url, config_dir)
    click.echo(f"{shown_url(db_url)}: {'upgraded' if applied else 'already up to date'}")
    if renumbered:
        click.echo(
            f"the outbox came from another server (a restore): {renumbered} events renumbered "
            "to transaction 0; a relay that had relayed them all resumes from the cursor "
            "'0.<seq of the last event it relayed>'"
        )
    if not rollups_current:
        click.echo(
            "health rollups are not built for this health.toml: reports read the whole event "
            "log until `aftersale health rebuild` has run"
        )


@cli.command()
@db_option
@config_option
@click.option("--interval", default=1.0, show_default=True, help="Seconds between sweeps.")
@click.option("--batch", default=500, show_default=True, help="Deadlines claimed at a time.")
@click.option(
    "--remind-before",
    default="12h",
    show_default=True,
    help="deadline.approaching this long before a seller deadline ('0' for none).",
)
@click.option(
    "--keep-rollup-days",
    default=None,
    type=click.IntRange(1),
    help="Health rollup rows kept, in days (default: the longest window of health.toml + 30).",
)
@click.option("--once", is_flag=True, help="One full sweep, then exit (for cron and tests).")
@click.option(
    "--log-format",
    default="json",
    show_default=True,
    type=click.Choice(daemon_log.FORMATS),
    help="json: one object a line (ts, level, event, message, fields); plain: text lines.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(daemon_log.LEVELS),
    help="debug also logs every idle sweep.",
)
@click.option(
    "--heartbeat",
    default=60.0,
    show_default=True,
    help="Seconds between heartbeat lines (the backlog); an idle sweep logs nothing.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, MAX_WORKERS),
    help=f"Sweeps at once in this process (1 to {MAX_WORKERS}), each on a database connection "
    "of its own; on SQLite always 1 (one writer at a time).",
)
def daemon(
    db_url: str | None,
    config_dir: str | None,
    interval: float,
    batch: int,
    remind_before: str,
    keep_rollup_days: int | None,
    once: bool,
    log_format: str,
    log_level: str,
    heartbeat: float,
    workers: int,
) -> None:
    """Fire every due deadline exactly once; run as many as you like on PostgreSQL."""
    from aftersale.daemon import Daemon, DaemonOptions, settle_memory

    daemon_log.configure(log_format, log_level)
    if interval <= 0 or batch <= 0 or heartbeat <= 0:
        raise click.BadParameter("--interval, --batch and --heartbeat must be positive")
    remind = _duration(remind_before, "--remind-before")
    options = DaemonOptions(interval, batch, remind, keep_rollup_days, heartbeat, workers)
    try:
        engine, ready = daemon_engine(db_url, config_dir, workers)
        with options_checked():  # a bad value stops here, before any sweep: exit 2
            engine.rollup_keep_days(keep_rollup_days)
        runner = Daemon(engine, options, ready, database=shown_url(db_url))
        settle_memory()  # this process is the daemon's own
        runner.run_once() if once else runner.run()
    except AfterSaleError as error:  # the log's last line, in its format; the usual status
        status = next(code for kind, code in EXIT_STATUS if isinstance(error, kind))
        fields = {"code": error_code(error), "exit_status": status}
        failed = daemon_log.record("daemon_failed", fields)
        logging.getLogger("aftersale.daemon").error(str(error), extra=failed)
        sys.exit(status)


@cli.command()
@click.option(
    "--db",
    "db_url",
    default="sqlite://",
    show_default=True,
    help="Database to measure (SQLite runs in temporary files).",
)
@click.option(
    "--scale",
    default="small",
    type=click.Choice(["tiny", "small", "medium", "large"]),
    show_default=True,
    help="tiny only checks that the harness runs.",
)
@click.option(
    "--only",
    default=None,
    type=click.Choice(
        [
            *("transition", "commands", "timers", "lines", "replay", "memory"),
            *("lateness", "health", "snapshots", "breach", "outbox"),
        ]
    ),
)
@json_option
def bench(db_url: str, scale: str, only: str | None, as_json: bool) -> None:
    """Capacity figures, each beside a baseline measured in the same run."""
    from aftersale.bench import run

    url = lasting_url(
        db_url, "`aftersale bench`", "it measures the SQL databases, their statements included"
    )
    logging.getLogger("aftersale").setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)
    report = run(url, scale, only)
    if as_json:
        render.print_json(report)
        return
    render.console.print(render.bench_table(report))


@cli.command()
@db_option
@json_option
def verify(db_url: str | None, as_json: bool) -> None:
    """Check the database against the engine's invariants; exit 1 when any is broken."""
    violations = operator_engine(db_url).verify()
    if as_json:
        render.print_json({"violations": violations})
    elif violations:
        for violation in violations:
            render.console.print(
                f"{violation['subject']}: [{violation['rule']}] {violation['detail']}",
                markup=False,
            )
    else:
        render.console.print("every invariant holds")
    sys.exit(1 if violations else 0)


@cli.command()
@db_option
@json_option
def status(db_url: str | None, as_json: bool) -> None:
    """The timers' backlog (overdue deadlines, oldest lag, next deadline, quarantined cases),
    the platform's overdue ticket replies and each shop's latest daily snapshot."""
    backlog = operator_engine(db_url).status()
    if as_json:
        render.print_json(backlog)
        return
    render.console.print(
        f"overdue: {backlog['overdue']} (oldest {backlog['oldest_lag_seconds']:.1f} s late); "
        f"next deadline: {backlog['next_deadline_at'] or '-'}; "
        f"quarantined: {len(backlog['quarantined'])}"
    )
    for stuck in backlog["quarantined"]:
        render.console.print(f"  {stuck['case_id']} since {stuck['at']}: {stuck['error']}")
    for noun, key in (("tickets", "ticket_id"), ("punishments", "punishment_id")):
        held = backlog[f"quarantined_{noun}"]
        if held:  # `aftersale ticket retry ID` / `ticket retry-punishment ID` puts one back
            render.console.print(f"quarantined {noun}: {len(held)}")
        for stuck in held:
            render.console.print(f"  {stuck[key]} since {stuck['at']}: {stuck['error']}")
    render.console.print(  # the platform is late: nothing is decided for it (governance.md)
        f"platform replies overdue: {backlog['overdue_replies']} "
        "(tickets under review past their SLA)"
    )
    taken = sorted(backlog["last_snapshots"].values())
    render.console.print(
        f"snapshots: {len(taken)} shops, the latest of each taken {taken[0]} to {taken[-1]} "
        "(--json lists them)"
        if taken
        else "snapshots: none yet"
    )


@cli.group()
def order() -> None:
    """Look at orders."""


@order.command("show")
@click.argument("order_id")
@db_option
@json_option
def order_show(order_id: str, db_url: str | None, as_json: bool) -> None:
    """The facts the engine keeps about an order, and what is still refundable."""
    with options_checked():
        view = operator_engine(db_url).order(order_id)
    render.print_json(view) if as_json else render.print_order(view)


cli.add_command(case)
cli.add_command(health)
cli.add_command(policy)
cli.add_command(ticket)
cli.add_command(shop)


def _print_replay(result: ReplayResult, as_json: bool) -> None:
    output = result.as_dict()
    if as_json:
        render.print_json(output)
        return
    if output["clock"] is None and not output["errors"]:
        render.console.print("the scenario has no line to play")
        return
    as_of = "" if output["clock"] is None else f" as of {output['clock']}"
    render.console.print(render.outcome_table(output["cases"], f"cases{as_of}"))
    render.print_errors(output["errors"])
    render.print_health_scores(output["health"])


def _duration(text: str, name: str) -> timedelta | None:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text.strip() == "0":
        return None
    try:
        return timedelta(seconds=float(text[:-1]) * units[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise click.BadParameter(
            f"{text!r} is not a duration like 90s, 30m, 12h", param_hint=name
        ) from None


def main() -> None:
    cli(prog_name="aftersale")
