"""Issue 18: typed from the command to the library. A command passes its options on as typed
values (TypedDict arguments, small frozen dataclasses), never click's ``ctx.params`` dict read by
string key, and no ``type: ignore`` hides a mismatch at the seam."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).parent.parent / "cfevents" / "cli"


def _attribute_reads(name: str) -> list[str]:
    """Every ``<something>.<name>`` in cfevents/cli/, as file:line."""
    found = []
    for path in sorted(CLI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == name:
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_command_reads_ctx_params():
    assert _attribute_reads("params") == []


def test_no_cli_source_mentions_ctx_params_at_all():
    mentions = [p.name for p in sorted(CLI.rglob("*.py")) if "ctx.params" in p.read_text()]
    assert mentions == []


def test_the_check_finds_ctx_params(tmp_path):
    """The AST check above sees a ``ctx.params`` read (it is not vacuous)."""
    tree = ast.parse("def f(ctx):\n    return ctx.params['since']\n")
    reads = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "params"]
    assert len(reads) == 1
