"""Option values converted without Pydantic give exactly what Typer's own conversion gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer._coercion import build_runtime_param, resolve_type_descriptor
from typer.models import OptionInfo
from typer.testing import CliRunner

import cfevents.cli
from cfevents.cli import app
from cfevents.cli.coercion import _TYPER, plain_value

CASES = [
    (str, "abc"),
    (str, ""),
    (str, " padded "),
    (str, 12),
    (bool, True),
    (bool, False),
    (bool, "yes"),
    (int, "10"),
    (int, "007"),
    (int, 5000),
    (int, " 10"),
    (int, "+3"),
    (int, "-3"),
    (int, "1_000"),
    (int, "1e3"),
    (int, "١٢"),  # Arabic-Indic digits
    (int, "9" * 30),
    (int, True),
    (float, "2.5"),
    (float, "30"),
    (float, 30.0),
    (float, "1e3"),
    (float, ".5"),
    (float, "nan"),
    (float, 3),
    (list[str], ("a", "b")),
    (list[str], ()),
    (list[str], ["x"]),
    (list[str], ("a", 1)),
    (Path, "no/such/dir/usage.ckpt"),
    (Path, "."),
    (Path, __file__),
    (Path, Path(__file__)),
    (Path, ""),
]


BOUNDS = {int: [(None, None), (1, 5000)], float: [(None, None), (0.1, None)]}
GRID = [(a, v, lo, hi) for a, v in CASES for lo, hi in BOUNDS.get(a, [(None, None)])]


@pytest.mark.parametrize(("annotation", "value", "low", "high"), GRID, ids=repr)
def test_plain_values_match_typer(annotation, value, low, high):
    info = OptionInfo(min=low, max=high)
    ours = plain_value(annotation, value, info)
    if ours is _TYPER:
        return  # Typer decides: same result and message by construction
    typers = build_runtime_param(resolve_type_descriptor(annotation, info))
    expected = typers._coerce_value(value, param=None, ctx=None)
    assert ours == expected
    assert type(ours) is type(expected)


@pytest.mark.parametrize(
    "args",
    [
        ["usage", "list", "--limit", "abc"],
        ["usage", "list", "--limit", "0"],
        ["usage", "list", "--per-page", "x"],
        ["--timeout", "0.01", "usage", "list"],
        ["--retries", "-1", "usage", "list"],
        ["usage", "export", "--per-page", "many"],  # the range is the library's (events/bounds)
        ["usage", "get"],
    ],
)
def test_bad_values_get_typers_own_messages(monkeypatch, args):
    fast = CliRunner().invoke(app, args)
    monkeypatch.setattr(cfevents.cli, "install_coercion", lambda *a, **k: None)
    slow = CliRunner().invoke(app, args)
    assert fast.exit_code == slow.exit_code == 2
    assert fast.stderr == slow.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["usage", "list", "-o", "csv", "--limit", "3"],
        ["usage", "list", "-o", "csv", "-n", " 3"],
        ["--timeout", "2.5", "--retries", "0", "usage", "list", "-n", "007", "-o", "json"],
        ["usage", "list", "--state", "STARTED", "--state", "stopped", "-n", "4", "-o", "tsv"],
        ["usage", "export", "--per-page", "100", "--until", "2026-01-02", "-o", "csv"],
    ],
)
def test_good_values_give_the_same_output(cli, monkeypatch, args):
    fast = cli(*args)
    monkeypatch.setattr(cfevents.cli, "install_coercion", lambda *a, **k: None)
    slow = cli(*args)
    assert fast.exit_code == slow.exit_code == 0
    assert fast.stdout == slow.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["--timeout", "9", "usage", "list", "-o", "csv", "-n", "2"],
        # a Path option (--checkpoint), given or not: issue 23 (Pydantic cost every export)
        ["usage", "export", "-o", "csv", "--until", "2020-06-01", "--checkpoint", "{ckpt}"],
    ],
    ids=["list", "export"],
)
def test_a_command_run_does_not_import_pydantic(sandbox, tmp_path, argv):
    argv = [a.replace("{ckpt}", str(tmp_path / "x.ckpt")) for a in argv]
    code = (
        "import sys, json\n"
        "from cfevents.cli import main\n"
        f"sys.argv = ['cfevents', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(json.dumps(sorted(m for m in sys.modules if 'pydantic' in m)))\n"
    )
    env = {"CF_API": sandbox.url, "CF_TOKEN": sandbox.admin_token(), "CF_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.count("\n") == (3 if "list" in argv else 1), out.stderr
    assert json.loads(out.stderr.splitlines()[-1]) == []


def test_typer_still_converts_what_we_leave_to_it():
    probe = typer.Typer()

    @probe.command()
    def show(n: int = 1, ratio: float = 0.5, names: list[str] | None = None) -> None:
        typer.echo(f"{n!r} {ratio!r} {names!r}")

    result = CliRunner().invoke(probe, ["--n", " 4", "--ratio", "1e1", "--names", "a"])
    assert result.stdout.strip() == "4 10.0 ['a']"


def test_without_typers_internals_the_shim_steps_aside(sandbox, tmp_path):
    """Another Typer (no ``typer._coercion.RuntimeParam``): install() does nothing, Typer
    converts, and the output and the messages for bad values are unchanged."""
    code = (
        "import sys\n"
        "from cfevents.cli import coercion\n"
        "coercion.RuntimeParam = None  # what the failed import of Typer's internals leaves\n"
        "from cfevents.cli import main\n"
        "sys.argv = ['cfevents', *sys.argv[1:]]\n"
        "main()\n"
    )
    env = {
        **__import__("os").environ,
        "CF_API": sandbox.url,
        "CF_TOKEN": sandbox.admin_token(),
        "CF_HOME": str(tmp_path),
        "CFEVENTS_OUTPUT": "",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60
        )

    good = run("--timeout", "9", "usage", "list", "-o", "csv", "-n", "3")
    assert good.returncode == 0, good.stderr
    from cfevents.cli import app

    same = CliRunner().invoke(app, ["usage", "list", "-o", "csv", "-n", "3"], env=env)
    assert good.stdout == same.stdout and good.stdout.count("\n") == 4
    bad = run("usage", "list", "-n", "abc")
    shimmed = CliRunner().invoke(app, ["usage", "list", "-n", "abc"], env=env)
    assert bad.returncode == shimmed.exit_code == 2
    assert bad.stderr == shimmed.stderr and "Invalid value for '--limit'" in bad.stderr


def test_typer_is_pinned_to_the_minor_the_shim_was_verified_against():
    from importlib.metadata import version
    from pathlib import Path

    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert '"typer>=0.29,<0.30"' in pyproject
    assert version("typer").startswith("0.29.")
