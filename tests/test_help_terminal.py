"""Help and its edges as people meet them: rich help on a terminal, bare commands, and the
root's options after the subcommand."""

import re
import subprocess
import sys

import pytest
import typer
from test_cli_help import command_paths
from test_tty import run_on_tty

from cfevents.cli import GLOBAL_FLAGS, GLOBAL_VALUED, app, hoist_global_options

BRACKETED = re.compile(r"\[[^\[\]]*\]")


def _help_texts(path):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    texts = [command.help or ""]
    texts += [getattr(param, "help", None) or "" for param in command.params]
    return texts


def _flatten(out):
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    out = re.sub(r"[│╭╮╰╯─]", " ", out)
    return " ".join(out.split())


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "cfevents")
def test_every_bracketed_help_text_survives_on_a_terminal(path, sandbox, tmp_path):
    wanted = [m for text in _help_texts(path) for m in BRACKETED.findall(" ".join(text.split()))]
    code, out = run_on_tty([*path, "--help"], {"CF_HOME": str(tmp_path), "COLUMNS": "400"}, sandbox)
    assert code == 0
    flat = _flatten(out)
    assert "Usage: cfevents" in flat  # the rich help, not an error
    missing = [text for text in wanted if text not in flat]
    assert not missing, missing


def test_bracketed_texts_are_found():
    """The test above looks at something: the help texts hold bracketed text to lose."""
    texts = [t for path in command_paths() for t in _help_texts(path)]
    found = [m for t in texts for m in BRACKETED.findall(t)]
    assert "[default: $CF_API, else the cf CLI's target]" in found
    assert "[gte]" in found


@pytest.mark.parametrize("args", [[], ["usage"], ["events"]])
def test_bare_group_prints_help_and_exits_0(args, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "cfevents", *args],
        capture_output=True,
        text=True,
        env={"CF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0
    assert "error" not in proc.stderr
    assert proc.stdout.startswith("Usage: cfevents")
    assert len(proc.stdout.splitlines()) > 5  # help text, not one long line


def test_bare_cfevents_on_a_terminal_is_help_without_error(sandbox, tmp_path):
    code, out = run_on_tty([], {"CF_HOME": str(tmp_path)}, sandbox)
    assert code == 0
    assert "Usage: cfevents" in _flatten(out)
    assert "cfevents: error" not in out


def test_global_options_after_the_subcommand(cli):
    before = cli("--local-time", "--retries", "0", "crashes", "--limit", "2")
    after = cli("crashes", "--limit", "2", "--local-time", "--retries=0")
    assert after.exit_code == 0, after.stderr
    assert after.stdout == before.stdout
    assert re.search(r"T\d\d:\d\d:\d\d[+-]\d\d:\d\d ", after.stdout)  # --local-time applied
    demo = cli("crashes", "--limit", "1", "--demo")
    assert demo.exit_code == 0, demo.stderr
    assert "demo: using the built-in sandbox" in demo.stderr
    verbose = cli("usage", "list", "--limit", "1", "--demo", "-v")
    assert verbose.exit_code == 0, verbose.stderr
    assert "GET " in verbose.stderr  # -v logged the requests


def test_hoisting_keeps_order_values_and_double_dash():
    assert hoist_global_options(["crashes", "-v", "--app", "x", "--api=u", "--timeout", "3"]) == [
        "-v",
        "--api=u",
        "--timeout",
        "3",
        "crashes",
        "--app",
        "x",
    ]
    assert hoist_global_options(["--api", "u", "usage", "list", "--", "-v"]) == [
        "--api",
        "u",
        "usage",
        "list",
        "--",
        "-v",
    ]


def test_no_subcommand_reuses_a_global_option_name():
    names = GLOBAL_FLAGS | GLOBAL_VALUED
    for path in command_paths():
        if not path:
            continue
        command = typer.main.get_command(app)
        for name in path:
            command = command.commands[name]
        for param in command.params:
            assert not names & set(getattr(param, "opts", [])), (path, param.opts)
