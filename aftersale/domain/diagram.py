"""Pictures of the workflows, drawn by ``transitions`` from the same tables the engine runs.

The second module allowed to import ``transitions``: its diagram extension builds a graph
machine from a workflow's transitions (guards become labels, terminal states end in ``[*]``).
Mermaid needs nothing more; SVG needs the ``graphviz`` package and Graphviz's ``dot``.

    python -m aftersale.domain.diagram --update-readme     # redraw the README's pictures
"""

from __future__ import annotations

import importlib.util
import logging
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from transitions.extensions.diagrams import GraphMachine

from aftersale.domain.model import Kind
from aftersale.domain.workflows import WORKFLOWS, Workflow
from aftersale.domain.workflows.ticket import TICKET
from aftersale.errors import DiagramUnavailable

logging.getLogger("transitions").setLevel(logging.WARNING)
FORMATS = ("mermaid", "svg")
# Style lines transitions writes for every chart; they only colour the "active" state.
_NOISE = re.compile(r"^\s*(classDef s_\w+ .*|Class \w+ s_\w+)$")


# every workflow that can be drawn, by name: the case kinds and the ticket
DRAWABLE: dict[str, Workflow[Any, Any]] = {**{k.value: wf for k, wf in WORKFLOWS.items()}}
DRAWABLE["ticket"] = TICKET


class _Drawing:
    """The model a graph machine needs; it is never triggered."""

    def __init__(self, workflow: Workflow[Any, Any]) -> None:
        self.state = workflow.initial.value


def _machine(kind: str, engine: Literal["mermaid", "graphviz"]) -> GraphMachine:
    workflow = DRAWABLE[kind]
    states = [s.value for s in workflow.states]
    machine = GraphMachine(
        model=None,
        states=states,
        initial=workflow.initial.value,
        auto_transitions=False,
        graph_engine=engine,
        show_conditions=True,
        title=f"aftersale {kind}",
    )
    for t in workflow.transitions:
        label: list[str | Callable[..., bool | None]] = [t.guard.__name__] if t.guard else []
        machine.add_transition(t.action.value, t.source.value, t.dest.value, conditions=label)
    return machine


def render(kind: str, fmt: str = "mermaid") -> str:
    """One workflow (a case Kind, or "ticket") as Mermaid text or as an SVG document."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if fmt == "svg":
        return _svg(kind)
    machine = _machine(kind, "mermaid")
    drawing = _Drawing(DRAWABLE[kind])
    machine.add_model(drawing)
    text: str = drawing.get_graph().draw(None)  # type: ignore[attr-defined]
    lines = [line.rstrip() for line in text.splitlines() if not _NOISE.match(line)]
    if not any(line.endswith("--> [*]") for line in lines):  # mark the terminal states
        workflow = DRAWABLE[kind]
        ends = [f"  {s.value} --> [*]" for s in workflow.states if s in workflow.terminal]
        lines[-1:-1] = ends
    return "\n".join(lines).strip() + "\n"


def render_all(fmt: str = "mermaid") -> dict[Kind, str]:
    return {kind: render(kind, fmt) for kind in Kind}


def _svg(kind: str) -> str:
    if importlib.util.find_spec("graphviz") is None or shutil.which("dot") is None:
        raise DiagramUnavailable(
            "SVG needs Graphviz: pip install graphviz, and the dot program "
            "(apt install graphviz, brew install graphviz); --format mermaid needs nothing"
        )
    machine = _machine(kind, "graphviz")
    drawing = _Drawing(DRAWABLE[kind])
    machine.add_model(drawing)
    graph = drawing.get_graph()  # type: ignore[attr-defined]
    svg: bytes = graph.pipe(format="svg")
    return svg.decode("utf-8")


# -- the README's pictures ----------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(kind: str) -> str:
    return f"<!-- diagram: {kind} -->\n```mermaid\n{render(kind)}```\n"


def update_readme(path: Path = README) -> bool:
    """Rewrite the README's pictures (the case kinds', the ticket's) in place; True when
    anything changed."""
    text = path.read_text(encoding="utf-8")
    updated = text
    for kind in DRAWABLE:
        pattern = re.compile(rf"<!-- diagram: {kind} -->\n```mermaid\n.*?```\n", re.DOTALL)
        block = readme_block(kind)
        if pattern.search(updated):
            updated = pattern.sub(block.replace("\\", "\\\\"), updated)
        else:
            updated = updated.rstrip("\n") + f"\n\n### {kind}\n\n{block}"
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text


if __name__ == "__main__":
    if sys.argv[1:] == ["--update-readme"]:
        print("README.md updated" if update_readme() else "README.md already up to date")
    else:
        for kind in DRAWABLE:
            print(render(kind))
