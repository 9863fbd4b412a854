"""The shape of the project: who may import whom, CI running the README's command, lint."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "aftersale"
FOREIGN_IO = ("sqlalchemy", "alembic", "apscheduler", "click", "rich", "psycopg")

# package prefix -> modules of ours it must not import
FORBIDDEN = {
    "aftersale.domain": (
        "aftersale.service",
        "aftersale.adapters",
        "aftersale.cli",
        "aftersale.config",
        "aftersale.bootstrap",
        "aftersale.replay",
    ),
    "aftersale.service": ("aftersale.adapters", "aftersale.cli", "aftersale.bootstrap"),
    "aftersale.adapters": ("aftersale.service.engine", "aftersale.cli", "aftersale.replay"),
    "aftersale.cli": ("aftersale.adapters",),
    "aftersale.daemon": ("aftersale.adapters",),
    # the bench measures the engine from outside: the public API and the unit of work's ports
    "aftersale.bench": ("aftersale.adapters",),
}
# the only import of the bench from the rest of the package: the CLI's `bench` command
BENCH_IMPORTERS = {("aftersale.cli", "bench")}
# the bench measures a bare transitions machine as its baseline
TRANSITIONS_IMPORTERS = {
    "aftersale.domain.machine",
    "aftersale.domain.diagram",
    "aftersale.bench.figures",
}


def _modules() -> dict[str, set[str]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
        found[name] = imported
    return found


def test_the_domain_does_no_io_and_layers_import_only_downwards() -> None:
    problems = []
    for module, imported in _modules().items():
        for prefix, banned in FORBIDDEN.items():
            if module.startswith(prefix):
                problems += [f"{module} imports {i}" for i in imported if i.startswith(banned)]
        if module.startswith(("aftersale.domain", "aftersale.service")):
            problems += [
                f"{module} imports {i}" for i in imported if i.split(".")[0] in FOREIGN_IO
            ]
        if module not in TRANSITIONS_IMPORTERS:
            problems += [f"{module} imports {i}" for i in imported if i.startswith("transitions")]
    assert problems == []


def test_nothing_but_the_bench_command_imports_the_bench() -> None:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if name.startswith("aftersale.bench"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function, node in _imports_with_their_function(tree, None):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            if any(module.startswith("aftersale.bench") for module in modules):
                found.add((name, function))
    assert found <= BENCH_IMPORTERS


def _imports_with_their_function(
    node: ast.AST, function: str | None
) -> list[tuple[str | None, ast.Import | ast.ImportFrom]]:
    """Every import under ``node``, with the name of the function it is made in (None at
    module level)."""
    found: list[tuple[str | None, ast.Import | ast.ImportFrom]] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            found.append((function, child))
        inner = (
            child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
        )
        found += _imports_with_their_function(child, inner)
    return found


def test_ci_runs_exactly_the_test_command_of_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.strip().splitlines()[-1]
    assert command.startswith("python -m pip install")
    assert command in readme.split("## ")[0], "the README's first section must give it"


@pytest.mark.parametrize(
    "tool", [["ruff", "check", "aftersale", "tests"], ["mypy"]], ids=["ruff", "mypy-strict"]
)
def test_the_package_is_lint_and_type_clean(tool: list[str]) -> None:
    if shutil.which(tool[0]) is None and not (Path(sys.executable).parent / tool[0]).exists():
        pytest.skip(f"{tool[0]} is not installed (pip install -e '.[test]' brings it)")
    result = subprocess.run(
        [sys.executable, "-m", *tool], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_examples_run() -> None:
    """The README's embedding example and its order-lines sequel, in one namespace (the
    outbox relay after them is a sketch around the host's own functions)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names: dict[str, object] = {"__name__": "readme_example"}
    blocks = [block.split("```", 1)[0] for block in readme.split("```python\n")[1:]]
    assert "continuing the example above" in blocks[1]
    for block in blocks[:2]:
        exec(compile(block, "README.md", "exec"), names)
