"""The dependency direction (cli → library → Cloud Controller client) and thin commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "cfevents"
HEAVY = ("typer", "click", "rich", "requests", "tabulate")

# What each layer may import (cfevents modules by prefix, third-party by top-level name).
ALLOWED: dict[str, tuple[str, ...]] = {
    "cfevents.cc": ("cfevents.cc", "cfevents.errors", "cfevents.version", "requests"),
    "cfevents.events": (
        "cfevents.cc",
        "cfevents.events",
        "cfevents.errors",
        "cfevents.timeparse",
        "cfevents.shapes",
    ),
    "cfevents.output": (
        "cfevents.output",
        "cfevents.files",
        "cfevents.errors",
        "cfevents.shapes",
        "rich",
        "tabulate",
    ),
    "cfevents.export": (
        "cfevents.cc",
        "cfevents.files",
        "cfevents.shapes",
        "cfevents.events",
        "cfevents.export",
        "cfevents.output",
        "cfevents.errors",
        "cfevents.timeparse",
        "cfevents.stores",
    ),
    # report.history reads a store's events and snapshot; stores never import the report
    "cfevents.report": (
        "cfevents.report",
        "cfevents.events.bounds",  # min_age's one bound (a leaf: errors and timeparse only)
        "cfevents.files",
        "cfevents.errors",
        "cfevents.timeparse",
        "cfevents.stores",
    ),
    "cfevents.api": (
        "cfevents.cc",
        "cfevents.files",
        "cfevents.report",
        "cfevents.events",
        "cfevents.export",
        "cfevents.output",
        "cfevents.errors",
        "cfevents.timeparse",
        "cfevents.shapes",
        "cfevents.stores",
    ),
}


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "sandbox" in parts:
            continue
        found.append((".".join(p for p in parts if p != "__init__"), path))
    return found


def imports(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def allowed(name: str, rules: tuple[str, ...]) -> bool:
    top = name.split(".")[0]
    if top != "cfevents":
        return top not in HEAVY or top in rules
    return any(name == r or name.startswith(r + ".") for r in rules)


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v))
def test_each_layer_imports_only_what_is_below_it(module, path):
    layer = next((k for k in ALLOWED if module == k or module.startswith(k + ".")), None)
    if layer is None:
        return  # cli, the package root, errors, shapes, timeparse, files
    bad = sorted(n for n in imports(path) if not allowed(n, ALLOWED[layer]))
    assert not bad, f"{module} ({layer}) must not import {bad}"


def test_the_library_never_imports_the_cli_or_typer():
    for module, path in modules():
        if module.startswith("cfevents.cli") or module == "cfevents.__main__":
            continue
        bad = [n for n in imports(path) if n.startswith(("cfevents.cli", "typer", "click"))]
        assert not bad, f"{module} imports {bad}"


def test_cli_modules_import_no_other_command_module():
    commands = ("cfevents.cli.usage", "cfevents.cli.events", "cfevents.cli.crashes")
    for module, path in modules():
        if not module.startswith("cfevents.cli"):
            continue
        bad = [n for n in imports(path) if n.startswith(commands) and not n.startswith(module)]
        assert not bad, f"{module} imports another command module: {bad}"
        assert not any(n.startswith("requests") for n in imports(path)), module


def command_bodies():
    for module, path in modules():
        if not module.startswith("cfevents.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if any(".command(" in d for d in decorators) or node.name in (
                "crashes",
                "export_usage",
                "report_usage",
            ):
                body = node.body
                if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                    body = body[1:]  # the docstring is the help text
                yield f"{module}.{node.name}", body[-1].end_lineno - body[0].lineno + 1


def test_every_command_body_is_at_most_30_lines():
    bodies = dict(command_bodies())
    assert len(bodies) >= 7, bodies  # usage list/get/export/report, events list/get, crashes
    long = {name: n for name, n in bodies.items() if n > 30}
    assert not long, f"commands parse, make one library call and print: {long}"
