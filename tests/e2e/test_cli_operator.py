"""What an operator meets on the first day, through the real command line (and the API where
it is an API behaviour): paging through cases, acting on one, the errors that say what to do,
the health chart, the replay summary, 80-column terminals and the demo's own hints."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aftersale import AfterSale, InvalidInput, OutOfOrder, VirtualClock
from aftersale.clock import SystemClock, iso
from aftersale.config import default_config_dir
from aftersale.domain import validation as check
from tests.conftest import MONDAY_9AM, EngineFactory

REJECT_CODES_SOME = ("item_used", "outside_return_window", "other")


def _env(folder: Path) -> dict[str, str]:
    env = {**os.environ, "AFTERSALE_DB_URL": f"sqlite:///{folder / 'ops.db'}"}
    env.pop("COLUMNS", None)  # pytest-xdist's workers set 80
    return env


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aftersale", *args],
        cwd=folder,
        env=_env(folder),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _on_a_terminal(folder: Path, *args: str, columns: int = 80) -> tuple[int, str]:
    """The exit status and what an operator sees on a terminal ``columns`` wide (piped
    output is never cut to the terminal: it is 160 columns)."""
    pty = pytest.importorskip("pty")
    env = {**_env(folder), "COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "aftersale", *args],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    status = process.wait(timeout=120)
    text = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    return status, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # no styles


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def _returns_opened_an_hour_ago(count: int) -> list[dict[str, Any]]:
    """``count`` delivered orders of shop-lumen-audio, each with a return in pending_review
    opened an hour before the real now (so its 2-day review deadline is still ahead)."""
    now = SystemClock().now().replace(microsecond=0)
    lines: list[dict[str, Any]] = []
    for number in range(1, count + 1):
        order = f"US-{number}"
        lines += [
            {
                "at": iso(now - timedelta(hours=30)),
                "type": "order.paid",
                "order_id": order,
                "shop_id": "shop-lumen-audio",
                "buyer_id": f"buyer-{number}",
                "market": "US",
                "currency": "USD",
                "amount": "59.90",
            },
            {"at": iso(now - timedelta(hours=29)), "type": "order.shipped", "order_id": order},
            {"at": iso(now - timedelta(hours=28)), "type": "order.delivered", "order_id": order},
        ]
    lines.sort(key=lambda line: str(line["at"]))
    lines += [
        {
            "at": iso(now - timedelta(hours=1)),
            "type": "case.open",
            "case_id": f"RR-{number}",
            "order_id": f"US-{number}",
            "kind": "return_refund",
            "actor": "buyer",
            "reason": "damaged",
        }
        for number in range(1, count + 1)
    ]
    return lines


@pytest.fixture
def ops(tmp_path: Path) -> Path:
    """A folder whose ops.db holds five returns waiting for the seller's review."""
    scenario = tmp_path / "returns.jsonl"
    lines = _returns_opened_an_hour_ago(5)
    scenario.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    done = _run(tmp_path, "replay", str(scenario), "--db", f"sqlite:///{tmp_path / 'ops.db'}")
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp_path


# -- case list: a cursor, and a table that says there is more ------------------------------


def test_case_list_pages_after_a_case_id_and_names_the_next_page(ops: Path) -> None:
    first = _json(_run(ops, "case", "list", "--limit", "2", "--json"))
    assert [c["case_id"] for c in first["cases"]] == ["RR-1", "RR-2"]
    assert first["next"] == "RR-2"
    second = _json(_run(ops, "case", "list", "--limit", "2", "--after", "RR-2", "--json"))
    assert ([c["case_id"] for c in second["cases"]], second["next"]) == (["RR-3", "RR-4"], "RR-4")
    last = _json(_run(ops, "case", "list", "--limit", "2", "--after", "RR-4", "--json"))
    assert ([c["case_id"] for c in last["cases"]], last["next"]) == (["RR-5"], None)
    exactly = _json(_run(ops, "case", "list", "--limit", "5", "--json"))
    assert (len(exactly["cases"]), exactly["next"]) == (5, None)  # no empty page to ask for

    table = _run(ops, "case", "list", "--limit", "2")
    assert table.returncode == 0, table.stderr
    assert "more: run with --after RR-2" in table.stdout
    assert "no more" in _run(ops, "case", "list", "--after", "RR-4").stdout
    assert _run(ops, "case", "list", "--limit", "0").returncode == 2


def test_the_engine_pages_cases_by_case_id(db_url: str, make_engine: EngineFactory) -> None:
    engine: AfterSale = make_engine(db_url)
    for number in (3, 1, 10, 2):  # "RR-10" sorts between "RR-1" and "RR-2"
        order = f"US-{number}"
        engine.order_paid(order, "shop-lumen-audio", f"buyer-{number}", "US", "USD", "20.00")
        engine.open_case(f"CX-{number}", order, "cancellation", "buyer", "changed_mind")
    pages, after = [], None
    while page := engine.cases(limit=3, after=after):
        pages.append([case["case_id"] for case in page])
        after = page[-1]["case_id"]
    assert pages == [["CX-1", "CX-10", "CX-2"], ["CX-3"]]
    assert [c["case_id"] for c in engine.cases(kind="cancellation", after="CX-2")] == ["CX-3"]
    with pytest.raises(InvalidInput, match="limit"):
        engine.cases(limit=0)


# -- case act: the case after the action, with its history -------------------------------


def test_case_act_shows_the_case_with_its_history(ops: Path) -> None:
    acted = _run(ops, "case", "act", "RR-1", "approve", "--actor", "seller", "--json")
    assert acted.returncode == 0, acted.stderr
    view = _json(acted)
    assert view["state"] == "awaiting_return_shipment"
    assert [step["action"] for step in view["history"]] == ["open", "approve"]

    shown = _run(ops, "case", "act", "RR-2", "approve", "--actor", "seller")
    assert shown.returncode == 0, shown.stderr
    history = shown.stdout[shown.stdout.index("history") :]
    assert "open" in history and "approve" in history and "pending_review" in history


# -- reason codes: a missing one is missing, a wrong one is shown the right ones -----------


def test_reject_without_a_reason_says_it_is_missing_and_lists_the_codes(ops: Path) -> None:
    missing = _run(ops, "case", "act", "RR-1", "reject", "--actor", "seller")
    assert missing.returncode == 1
    assert "reject_reason is missing: give one of " in missing.stderr
    assert "NoneType" not in missing.stderr
    assert all(code in missing.stderr for code in REJECT_CODES_SOME)

    wrong = _run(
        ops, "case", "act", "RR-1", "reject", "--actor", "seller", "--reject-reason", "meh"
    )
    assert wrong.returncode == 1
    assert "reject_reason 'meh' is not one of the known codes: " in wrong.stderr
    assert all(code in wrong.stderr for code in REJECT_CODES_SOME)
    assert _json(_run(ops, "case", "show", "RR-1", "--json"))["state"] == "pending_review"


def test_every_unknown_code_error_lists_the_codes_or_the_first_and_where_the_rest_are() -> None:
    with pytest.raises(InvalidInput, match=r"state 'lost' is not one of the known codes: a, b$"):
        check.choice("lost", "state", frozenset({"b", "a"}))
    with pytest.raises(InvalidInput, match=r"^kind must be a string, one of a, b$"):
        check.choice(7, "kind", frozenset({"a", "b"}))
    many = frozenset(f"code_{n:02}" for n in range(40))
    with pytest.raises(InvalidInput) as refused:
        check.choice(None, "reason", many)
    message = refused.value.message
    assert message.startswith("reason is missing: give one of code_00, code_01, ")
    assert "code_19 and 20 more (the policy's reasons.toml lists them all)" in message
    assert "code_20" not in message


# -- the health chart: refused where it cannot be written, thresholds drawn ----------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--history", "30", "--chart", "x.jpg"], "a chart is .png or .svg, not .jpg"),
        (["--history", "30", "--chart", "/no/such/dir/t.png"], "there is no folder /no/such/dir"),
        (["--chart", "t.png"], "--chart draws the daily snapshots: give --history N"),
        (["--history", "3", "--as-of", "2026-03-02T00:00:00Z"], "drop --as-of"),
    ],
)
def test_a_chart_that_cannot_be_written_exits_2_before_anything_is_drawn(
    ops: Path, args: list[str], message: str
) -> None:
    done = _run(ops, "health", "shop-lumen-audio", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (ops / "x.jpg").exists() and not (ops / "t.png").exists()


def test_the_chart_draws_the_alert_thresholds_of_the_health_settings(ops: Path) -> None:
    drawn = _run(ops, "health", "shop-lumen-audio", "--history", "5", "--chart", "trend.svg")
    assert drawn.returncode == 0, drawn.stderr
    svg = (ops / "trend.svg").read_text(encoding="utf-8")
    assert "alert raised: 7 snapshots below 4" in svg
    assert "alert cleared: at or above 4.2" in svg

    config = ops / "config"
    shutil.copytree(default_config_dir(), config)
    health = config / "health.toml"
    text = health.read_text(encoding="utf-8")
    text = text.replace("raise_below = 4.0", "raise_below = 3.5")
    text = text.replace("consecutive_days = 7", "consecutive_days = 3")
    health.write_text(text.replace("clear_at_or_above = 4.2", "clear_at_or_above = 3.8"))
    args = ("--history", "5", "--chart", "mine.svg", "--config", str(config))
    assert _run(ops, "health", "shop-lumen-audio", *args).returncode == 0
    svg = (ops / "mine.svg").read_text(encoding="utf-8")
    assert "alert raised: 3 snapshots below 3.5" in svg
    assert "alert cleared: at or above 3.8" in svg


# -- replay: each shop's health in the summary; messages without defects ------------------


def test_the_replay_summary_gives_each_shops_health_and_plain_messages(ops: Path) -> None:
    lines = [json.dumps(line) for line in _returns_opened_an_hour_ago(1)]
    later = json.loads(lines[-1])["at"]
    lines += [
        json.dumps({"at": later, "order_id": "US-1"}),
        json.dumps({"at": later, "type": 7}),
        '{"at": "2026-03-06T11:00:00Z", "type": "case.action", "note": "unterminated',
        json.dumps({"at": "2026-03-02T09:00:00Z", "type": "clock.advance"}),
    ]
    scenario = ops / "faults.jsonl"
    scenario.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = _run(ops, "replay", str(scenario))
    assert done.returncode == 1
    assert "health of shop-lumen-audio: not scored (1 order delivered in 90 days" in done.stdout
    errors = {
        e["line"]: e["message"]
        for e in _json(_run(ops, "replay", str(scenario), "--json"))["errors"]
    }
    assert errors[5].startswith("the line has no type (known: order.paid, ")
    assert errors[6].startswith("type must be a string (known: ")
    assert errors[7].startswith("not JSON: Unterminated string starting at column ")
    assert errors[8] == f"at 2026-03-02T09:00:00Z is before the previous line ({later})"
    assert "None" not in done.stdout and "at at" not in done.stdout

    (ops / "empty.jsonl").write_text("# nothing yet\n", encoding="utf-8")
    empty = _run(ops, "replay", "empty.jsonl")
    assert empty.returncode == 0
    assert "no line to play" in empty.stdout and "None" not in empty.stdout


def test_out_of_order_messages_show_instants_in_iso_8601_z(
    ops: Path, make_engine: EngineFactory, clock: VirtualClock
) -> None:
    late = _run(
        ops, "case", "act", "RR-1", "approve", "--actor", "seller", "--at", "2026-01-01T00:00Z"
    )
    assert late.returncode == 1
    instant = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    before = r"case RR-1: 2026-01-01T00:00:00Z is before its latest transition"
    assert re.search(rf"{before} \({instant}\)", late.stderr), late.stderr

    engine = make_engine()
    clock.move_to(MONDAY_9AM + timedelta(days=2))
    engine.order_paid("US-9", "shop-a", "buyer-9", "US", "USD", "20.00", at=MONDAY_9AM)
    engine.order_shipped("US-9", at=MONDAY_9AM + timedelta(days=1))
    with pytest.raises(OutOfOrder) as refused:
        engine.order_delivered("US-9", at=MONDAY_9AM + timedelta(hours=2))
    assert refused.value.message == (
        "order US-9: 2026-03-02T11:00:00Z is before it was shipped (2026-03-03T09:00:00Z)"
    )


# -- 80 columns and the demo ----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder where the demo wrote ops.db, and what it showed on an 80-column terminal."""
    folder = tmp_path_factory.mktemp("demo")
    status, shown = _on_a_terminal(folder, "demo", "--db", f"sqlite:///{folder / 'ops.db'}")
    assert status == 0, shown
    yield folder, shown


def _ids_whole(text: str, ids: set[str]) -> None:
    missing = sorted(name for name in ids if name not in text)
    assert not missing, f"cut or missing at 80 columns: {missing[:5]}"
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_at_80_columns_no_case_or_shop_id_is_cut(demo: tuple[Path, str]) -> None:
    folder, shown = demo
    cases = _json(_run(folder, "case", "list", "--json"))["cases"]
    shops = {case["shop_id"] for case in cases}
    assert len(cases) > 50 and len(shops) == 3
    _ids_whole(shown[: shown.index("Look closer:")], {c["case_id"] for c in cases} | shops)

    status, listed = _on_a_terminal(folder, "case", "list")
    assert status == 0
    _ids_whole(listed, {c["case_id"] for c in cases} | {c["order_id"] for c in cases} | shops)

    case = cases[-1]
    status, one = _on_a_terminal(folder, "case", "show", case["case_id"])
    assert status == 0 and "…" not in one and case["order_id"] in one

    as_of = ("health", case["shop_id"], "--as-of", "2026-04-30T00:00Z")
    report = _json(_run(folder, *as_of, "--json"))
    metrics = [m for part in report["dimensions"].values() for m in part["metrics"].values()]
    examples = {example for metric in metrics for example in metric["examples"]}
    status, human = _on_a_terminal(folder, *as_of)
    assert examples and status == 0
    _ids_whole(human, examples)


def test_the_demos_look_closer_hint_reports_the_score_the_demo_showed(
    demo: tuple[Path, str],
) -> None:
    folder, shown = demo
    scores = dict(re.findall(r"health of (\S+): (\d\.\d\d) ", shown))
    assert len(scores) == 3, shown
    hint = shown[shown.index("Look closer:") :]
    commands = [line.strip() for line in hint.splitlines()[1:] if line.strip()]
    health = next(c for c in commands if c.startswith("aftersale health") and "--as-of" in c)
    assert "--as-of 2026-04-30T00:00:00Z" in health
    report = _json(_run(folder, *shlex.split(health)[1:], "--json"))
    assert f"{report['score']:.2f}" == scores[report["shop_id"]]
    for command in commands:  # every hint runs as printed
        done = _run(folder, *shlex.split(command)[1:])
        assert done.returncode == 0, (command, done.stderr)
