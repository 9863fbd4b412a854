"""``aftersale health``: a shop's report, its daily snapshots and their chart, backfill and
the rollups' rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aftersale import render
from aftersale.cli_options import (
    config_option,
    db_option,
    json_option,
    operator_engine,
    options_checked,
    parse_instant,
)


class _ShopFirst(click.Group):
    """``aftersale health SHOP`` reports on a shop; ``aftersale health backfill`` rebuilds."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["report", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_ShopFirst)
def health() -> None:
    """The shop health score: aftersale health SHOP [--as-of T] [--history N] [--json]."""


@health.command("report")
@click.argument("shop_id")
@click.option("--as-of", "as_of", default=None, help="ISO instant (default: now).")
@click.option(
    "--history",
    default=None,
    type=click.IntRange(1, 3650),
    help="Show the last N daily snapshots instead.",
)
@click.option(
    "--chart",
    default=None,
    type=click.Path(dir_okay=False),
    help="With --history: also draw the trend to this .png or .svg file.",
)
@db_option
@config_option
@json_option
def health_report(
    shop_id: str,
    as_of: str | None,
    history: int | None,
    chart: str | None,
    db_url: str | None,
    config_dir: str | None,
    as_json: bool,
) -> None:
    """A shop's health report: each metric with its numbers, points and costly examples."""
    if history is None and chart is not None:
        raise click.UsageError("--chart draws the daily snapshots: give --history N with it")
    if history is not None and as_of is not None:
        raise click.UsageError("--history shows the last N snapshots taken: drop --as-of")
    if history is not None:
        trend = _history(
            shop_id, history, None if chart is None else Path(chart), db_url, config_dir
        )
        render.print_json(trend) if as_json else render.console.print(
            render.trend_table(shop_id, trend)
        )
        return
    when = None if as_of is None else parse_instant(as_of, "--as-of")
    with options_checked():
        report = operator_engine(db_url, config_dir).health(shop_id, when)
    render.print_json(report) if as_json else render.print_health(report)


def _history(
    shop_id: str, days: int, chart: Path | None, db_url: str | None, config_dir: str | None
) -> list[dict[str, Any]]:
    """The last ``days`` snapshots, their chart drawn when asked for."""
    from aftersale.chart import ChartPathError, check_chart_path, draw_trend

    try:
        if chart is not None:
            check_chart_path(chart)  # before anything is read: exit 2, nothing written
        engine = operator_engine(db_url, config_dir)
        with options_checked():
            trend = engine.health_history(shop_id, days)
        if chart is None:
            return trend
        if not trend or engine.health_settings is None:
            click.echo(f"{shop_id} has no daily snapshot yet: no chart drawn", err=True)
        else:
            draw_trend(shop_id, trend, engine.health_settings[0], chart)
            click.echo(f"chart written to {chart}", err=True)
    except ChartPathError as wrong:
        raise click.BadParameter(str(wrong), param_hint="--chart") from None
    return trend


@health.command("backfill")
@click.option("--shop", "shop_id", required=True)
@click.option("--from", "start", required=True, help="ISO instant.")
@click.option("--to", "end", required=True, help="ISO instant.")
@db_option
@config_option
def health_backfill(
    shop_id: str, start: str, end: str, db_url: str | None, config_dir: str | None
) -> None:
    """Rebuild a shop's daily snapshots between two instants from its events."""
    from rich.progress import Progress

    first, last = parse_instant(start, "--from"), parse_instant(end, "--to")
    days = max(1, (last - first).days + 1)
    with options_checked(), Progress(console=render.console, transient=True) as progress:
        task = progress.add_task(f"rebuilding {shop_id}", total=days)
        rebuilt = operator_engine(db_url, config_dir).backfill_health(
            shop_id, first, last, on_day=lambda _midnight: progress.advance(task)
        )
    click.echo(f"{shop_id}: {rebuilt} daily snapshots rebuilt")


@health.command("rebuild")
@db_option
@config_option
def health_rebuild(db_url: str | None, config_dir: str | None) -> None:
    """Recompute the health rollups from the event log (after health.toml changed)."""
    from rich.progress import Progress

    engine = operator_engine(db_url, config_dir)
    with Progress(console=render.console, transient=True) as progress:
        task = progress.add_task("folding events", total=engine.storage.reads.count_events())
        subjects = engine.rebuild_health(on_events=lambda seen: progress.advance(task, seen))
    click.echo(f"health rollups rebuilt: {subjects} orders and messages")


@health.command("prune")
@click.option(
    "--keep-days",
    default=None,
    type=int,
    help="Days of rollup rows kept (default: the longest window of health.toml + 30).",
)
@db_option
@config_option
@json_option
def health_prune(
    keep_days: int | None, db_url: str | None, config_dir: str | None, as_json: bool
) -> None:
    """Delete health rollup rows older than the reports need (the daemon does it daily)."""
    with options_checked():
        pruned = operator_engine(db_url, config_dir).prune_health(keep_days)
    if as_json:
        render.print_json(pruned)
    elif not pruned["pruned"]:
        click.echo("health rollups not current: nothing pruned (aftersale health rebuild)")
    else:
        click.echo(
            f"health rollups kept from {pruned['kept_from']}: {pruned['items']} items and "
            f"{pruned['hours']} hourly sums deleted"
        )
