"""The generated parts of docs/: tables, diagrams and examples drawn from the code and the
shipped config/, so the user documentation cannot drift from what the engine does.

A docs file marks each generated block; everything outside the markers is hand-written:

    <!-- generated: deadlines -->
    ...rewritten by python -m aftersale.docgen...
    <!-- end generated -->

``python -m aftersale.docgen`` rewrites every block in place; ``--check`` only says which
files are out of date (exit 1). tests/test_docs.py regenerates them in memory and fails when a
file differs. A block name no generator knows, a marker left open, or a generator whose block
is in no file is an error: nothing generated is silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
START = re.compile(r"<!-- generated: (?P<name>[A-Za-z0-9_.:-]+) -->\n")
END = "<!-- end generated -->"
Generator = Callable[[], str]


class DocsError(Exception):
    """A docs file's markers do not match the generators."""


@cache
def generators() -> Mapping[str, Generator]:
    """Every block name and the function that writes it (imported when first asked for)."""
    from aftersale.docgen.events import BLOCKS as EVENTS
    from aftersale.docgen.governance import BLOCKS as GOVERNANCE
    from aftersale.docgen.health import BLOCKS as HEALTH
    from aftersale.docgen.reference import BLOCKS as REFERENCE
    from aftersale.docgen.workflows import BLOCKS as WORKFLOWS

    found: dict[str, Generator] = {}
    for blocks in (WORKFLOWS, REFERENCE, EVENTS, HEALTH, GOVERNANCE):
        for name, generate in blocks.items():
            if name in found:
                raise DocsError(f"two generators write block {name}")
            found[name] = generate
    return found


def regenerate(text: str, where: str, written: dict[str, str] | None = None) -> str:
    """``text`` with every generated block written afresh; ``written`` caches blocks across
    files (and collects the names used)."""
    written = {} if written is None else written
    out, position = [], 0
    for start in START.finditer(text):
        if start.start() < position:
            raise DocsError(f"{where}: block {start['name']} starts inside another block")
        end = text.find(END, start.end())
        if end < 0:
            raise DocsError(f"{where}: block {start['name']} has no {END}")
        name = start["name"]
        if name not in generators():
            known = ", ".join(sorted(generators()))
            raise DocsError(f"{where}: no generator writes block {name} (known: {known})")
        if name not in written:
            body = generators()[name]()
            written[name] = body if body.endswith("\n") else body + "\n"
        out += [text[position : start.end()], written[name]]
        position = end
    out.append(text[position:])
    return "".join(out)


def render(docs: Path = DOCS) -> dict[Path, str]:
    """Every docs file as it should read, hand-written parts kept, blocks regenerated."""
    files = sorted(docs.rglob("*.md"))
    if not files:
        raise DocsError(f"no Markdown files in {docs}")
    written: dict[str, str] = {}
    rendered = {
        path: regenerate(path.read_text(encoding="utf-8"), path.name, written) for path in files
    }
    unused = sorted(set(generators()) - set(written))
    if unused:
        raise DocsError(f"blocks in no docs file: {', '.join(unused)}")
    return rendered


def stale(docs: Path = DOCS) -> list[Path]:
    """The docs files whose generated blocks are not what the code gives now."""
    return [path for path, text in render(docs).items() if path.read_text("utf-8") != text]


def rewrite(docs: Path = DOCS) -> list[Path]:
    """Rewrite every stale docs file; the files rewritten."""
    changed = []
    for path, text in render(docs).items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
