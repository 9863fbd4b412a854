"""docs/ is current with the code, its links resolve, and every event field is described."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from aftersale.docgen import DOCS, DocsError, governance, regenerate, render
from aftersale.docgen.__main__ import main
from aftersale.docgen.events import fields_by_type
from aftersale.docgen.samples import samples
from aftersale.domain.tickets.model import TicketAction

ROOT = DOCS.parent
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def rendered() -> dict[Path, str]:
    return render(DOCS)


def test_every_generated_block_in_docs_is_what_the_code_gives_now(
    rendered: dict[Path, str],
) -> None:
    stale = [p.name for p, text in rendered.items() if p.read_text("utf-8") != text]
    assert stale == [], f"docs/ is out of date: run python -m aftersale.docgen ({stale})"


def test_the_docs_cover_the_pages_the_readme_and_the_issue_name() -> None:
    pages = {path.name for path in DOCS.glob("*.md")}
    wanted = {"README.md", "workflows.md", "replay.md", "events.md", "health.md", "governance.md"}
    assert wanted | {"operations.md"} <= pages


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text("utf-8"))
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        slug, n = _slug(heading), 0
        while (f"{slug}-{n}" if n else slug) in found:
            n += 1
        found.add(f"{slug}-{n}" if n else slug)
    return found


def _links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text("utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # a link shown as code is no link
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z+.-]*:", t)]


@pytest.mark.parametrize(
    "page",
    [*sorted(DOCS.glob("*.md")), ROOT / "README.md"],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_every_relative_link_resolves_to_a_file_and_its_heading(page: Path) -> None:
    broken = []
    for target in _links(page):
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert broken == []


def test_the_anchor_of_a_heading_is_githubs() -> None:
    assert _slug("The outbox: `events_after`") == "the-outbox-events_after"
    assert _slug("health.alert_raised, health.alert_cleared") == (
        "healthalert_raised-healthalert_cleared"
    )


def _section(text: str, type_: str) -> str:
    """The part of events.md under the heading that names ``type_``, up to the next one."""
    for part in re.split(r"^### ", text, flags=re.MULTILINE)[1:]:
        heading = part.splitlines()[0]
        if type_ in [name.strip() for name in heading.split(",")]:
            return FENCE.sub("", part)
    raise AssertionError(f"events.md has no ### heading for {type_}")


def test_events_md_describes_every_field_the_engine_writes_in_each_type() -> None:
    text = (DOCS / "events.md").read_text("utf-8")
    missing = []
    for type_, (always, some) in fields_by_type().items():
        section = _section(text, type_)
        missing += [f"{type_}.{key}" for key in always + some if f"`{key}`" not in section]
    assert missing == [], "describe these fields in docs/events.md"


def test_a_block_no_generator_writes_or_a_block_left_open_is_an_error() -> None:
    with pytest.raises(DocsError, match="no generator writes block typo"):
        regenerate("<!-- generated: typo -->\n<!-- end generated -->\n", "x.md")
    with pytest.raises(DocsError, match="has no <!-- end generated -->"):
        regenerate("<!-- generated: states -->\nleft open\n", "x.md")


def test_hand_written_text_around_a_block_is_kept_and_the_block_rewritten() -> None:
    text = "Before.\n\n<!-- generated: error-codes -->\nstale\n<!-- end generated -->\nAfter.\n"
    out = regenerate(text, "x.md")
    assert out.startswith("Before.\n\n<!-- generated: error-codes -->\n| code |")
    assert out.endswith("<!-- end generated -->\nAfter.\n") and "stale" not in out
    assert regenerate(out, "x.md") == out


def test_check_says_what_is_stale_and_writes_nothing_then_the_rewrite_fixes_it(
    tmp_path: Path, rendered: dict[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    for path, text in rendered.items():  # the copy as current as the code, whatever docs/ is
        (docs / path.name).write_text(text, encoding="utf-8")
    page = docs / "workflows.md"
    current = page.read_text("utf-8")
    stale = current.replace("| `pending_review` |", "| `pending_reveiw` |", 1)
    page.write_text(stale, encoding="utf-8")
    assert main(["--check", "--docs", str(docs)]) == 1
    assert "out of date: docs/workflows.md" in capsys.readouterr().out
    assert page.read_text("utf-8") == stale
    assert main(["--docs", str(docs)]) == 0
    assert page.read_text("utf-8") == current
    assert main(["--check", "--docs", str(docs)]) == 0


def test_a_docs_folder_missing_a_generated_block_is_an_error(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "only.md").write_text("<!-- generated: states -->\n<!-- end generated -->\n")
    with pytest.raises(DocsError, match=r"blocks in no docs file: .*deadlines"):
        render(docs)
    assert main(["--check", "--docs", str(docs)]) == 2


def test_the_docs_story_takes_every_ticket_action_and_ends_punishments_both_ways() -> None:
    story = samples().events
    taken = {event["action"] for event in story if event["type"] == "ticket.transition"}
    assert taken == {action.value for action in TicketAction}
    issuers = {event["actor"] for event in story if event.get("action") == "issue"}
    assert issuers == {"platform", "system"}  # the platform's tickets and a breach rule's
    rounds = {event["round"] for event in story if event["type"] == "ticket.reply_overdue"}
    assert rounds == {2}  # the SLA restarted at the second appeal, and passed
    ended = {event["ended_early"] for event in story if event["type"] == "punishment.ended"}
    assert ended == {True, False}


def test_a_governance_key_the_docs_do_not_describe_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = governance.document()
    grown = {**shipped, "appeals": {**shipped["appeals"], "third_window": "7d"}}
    monkeypatch.setattr(governance, "document", lambda: grown)
    with pytest.raises(
        DocsError, match=r"governance.toml's keys changed \(appeals.third_window\)"
    ):
        governance.keys()


def test_the_governance_keys_say_what_the_loader_accepts() -> None:
    text = governance.keys()
    assert "| `appeals.first_window` | `30d` | a duration like" in text
    assert (
        "| `breach_rules.ID.points` | each rule's below | a whole number from 1 to 100 |" in text
    )


def test_the_python_example_of_governance_md_runs_and_gives_what_its_comments_say() -> None:
    text = (DOCS / "governance.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    example = next(block for block in blocks if "import aftersale" in block)
    namespace: dict[str, Any] = {}
    exec(compile(example, "governance.md", "exec"), namespace)
    said = re.findall(r"^(engine\.\S.*?)\s+#\s+(.+)$", example, re.MULTILINE)
    assert len(said) == 2
    for expression, shown in said:
        assert eval(expression, namespace) == ast.literal_eval(shown), expression
