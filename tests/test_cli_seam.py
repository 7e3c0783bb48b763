"""Issue 18: typed from the command to the library. A command passes its options on as typed
values (TypedDict arguments, small frozen dataclasses), never click's ``ctx.params`` dict read by
string key, and no ``type: ignore`` hides a mismatch at the seam."""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from cfevents.cli.grouping import grouped, option_group
from cfevents.cli.options import Scope, UsageScope

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


@option_group
@dataclass(frozen=True)
class Pair:
    """A group for the tests below."""

    left: Annotated[str | None, typer.Option("--left")] = None
    right: Annotated[int, typer.Option("--right")] = 2


def test_an_option_group_is_one_typed_parameter_and_its_options_in_place():
    """@grouped shows Typer a group's fields where the group parameter stands, and hands the
    command one instance of the group."""
    seen = []

    @grouped
    def command(
        first: Annotated[bool, typer.Option("--first")] = False,
        pair: Pair = Pair(),
        last: Annotated[str, typer.Option("--last")] = "z",
    ) -> None:
        seen.append((first, pair, last))

    assert list(inspect.signature(command).parameters) == ["first", "left", "right", "last"]
    app = typer.Typer()
    app.command()(command)
    result = CliRunner().invoke(app, ["--left", "a", "--right", "5", "--first"])
    assert result.exit_code == 0, result.output
    assert seen == [(True, Pair("a", 5), "z")]


def test_two_groups_of_one_command_may_not_share_an_option():
    def command(a: Scope = Scope(), b: UsageScope = UsageScope()) -> None:
        """Both groups hold --org/--space/--app."""

    with pytest.raises(TypeError, match="options declared twice: app_, org, space"):
        grouped(command)
