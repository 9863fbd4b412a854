"""The pictures are drawn from the workflow tables, and the README shows the current ones."""

from __future__ import annotations

import importlib.util
import re
import shutil

import pytest

from aftersale.domain.diagram import DRAWABLE, README, readme_block, render
from aftersale.domain.model import TERMINAL_STATES, Kind
from aftersale.domain.workflows import WORKFLOWS
from aftersale.errors import DiagramUnavailable


@pytest.mark.parametrize("kind", list(Kind))
def test_every_transition_of_the_workflow_is_an_edge(kind: Kind) -> None:
    text = render(kind)
    edges: dict[tuple[str, str], set[str]] = {}
    for source, dest, labels in re.findall(r"^\s*(\w+) --> (\w+): (.+)$", text, re.MULTILINE):
        edges[(source, dest)] = {label.strip() for label in labels.split("|")}
    for t in WORKFLOWS[kind].transitions:
        label = t.action.value + (f" [{t.guard.__name__}]" if t.guard else "")
        assert label in edges.get((t.source.value, t.dest.value), set()), label
    drawn = sum(len(labels) for labels in edges.values())
    assert drawn == len(WORKFLOWS[kind].transitions)


@pytest.mark.parametrize("kind", list(Kind))
def test_terminal_states_end_the_chart_and_drawing_is_deterministic(kind: Kind) -> None:
    text = render(kind)
    ends = set(re.findall(r"^\s*(\w+) --> \[\*\]$", text, re.MULTILINE))
    assert ends == {s.value for s in WORKFLOWS[kind].states if s in TERMINAL_STATES}
    assert render(kind) == text


def test_the_readme_shows_the_current_diagrams() -> None:
    readme = README.read_text(encoding="utf-8")
    for kind in DRAWABLE:  # the case kinds and the ticket
        assert readme_block(kind) in readme, (
            f"README's {kind} diagram is stale: run python -m aftersale.domain.diagram "
            "--update-readme"
        )


def test_svg_needs_graphviz_and_says_how_to_get_it() -> None:
    if importlib.util.find_spec("graphviz") and shutil.which("dot"):
        assert render(Kind.refund_only, "svg").lstrip().startswith(("<?xml", "<svg"))
    else:
        with pytest.raises(DiagramUnavailable, match="pip install graphviz"):
            render(Kind.refund_only, "svg")
