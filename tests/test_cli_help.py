"""Every command's --help works and says something (commands found from the app itself)."""

import pytest
import typer
from typer.testing import CliRunner

from cfevents.cli import app


def command_paths():
    root = typer.main.get_command(app)
    paths = [[]]

    def walk(group, prefix):
        for name, cmd in group.commands.items():
            paths.append([*prefix, name])
            if hasattr(cmd, "commands"):
                walk(cmd, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "cfevents")
def test_help(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: cfevents" in result.stdout
    assert len(result.stdout.splitlines()) > 5


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("cfevents ")


def test_no_args_shows_help():
    result = CliRunner().invoke(app, [])
    assert "Commands" in result.output
