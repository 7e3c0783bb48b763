"""The package's shape (issue 18): short functions, no import cycle, a thin api.py, a typed seam
between the commands and the library."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "cfevents"
MAX_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(p for p in parts if p != "__init__")] = path
    return found


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body without its docstring (the signature is parameters)."""
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]


def long_functions() -> dict[str, int]:
    found = {}
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = body_lines(node)
                if lines > MAX_LINES:
                    found[f"{path.relative_to(PACKAGE.parent)}:{node.name}"] = lines
    return found


def test_no_function_is_longer_than_60_lines():
    found = long_functions()
    assert not found, f"functions longer than {MAX_LINES} lines: {found}"


def test_the_length_check_counts_a_body_without_its_docstring():
    body = "".join(f"    x{n} = {n}\n" for n in range(MAX_LINES + 1))
    tree = ast.parse(f'def f():\n    """Doc."""\n{body}\n\nasync def g():\n{body}')
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert [body_lines(f) for f in functions] == [MAX_LINES + 1, MAX_LINES + 1]


def runtime_imports(path: Path) -> set[str]:
    """The cfevents modules a file imports when it runs (at module level or inside functions),
    not the ones it names only for the type checker (``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text())
    checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            checking.update(id(n) for child in node.body for n in ast.walk(child))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] == "cfevents"}


def import_graph() -> dict[str, set[str]]:
    known = modules()

    def module_of(name: str) -> str:
        while name not in known:
            name = name.rpartition(".")[0]
        return name

    def ancestors(module: str) -> set[str]:
        parts = module.split(".")
        return {".".join(parts[:n]) for n in range(1, len(parts) + 1)}

    # A module's own packages are imported before it, always: an edge to one orders nothing.
    return {
        module: {module_of(n) for n in runtime_imports(path)} - ancestors(module)
        for module, path in known.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "cfevents.events.keyset" in graph["cfevents.export.parallel"]  # the graph is real
    assert not cycles(graph)


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_api_is_a_thin_facade():
    lines = len((PACKAGE / "api.py").read_text().splitlines())
    assert lines <= 550, lines  # 0.2.0's api.py had 1,394 lines; the facade has ~515


def test_no_type_ignore_in_the_cli():
    found = [
        f"{path.name}:{n}"
        for path in sorted((PACKAGE / "cli").glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line
    ]
    assert not found, found
