"""Start-up stays cheap: heavy modules and unused subcommands are never imported for nothing.

Each check runs in a fresh interpreter and looks at ``sys.modules``; nothing here is timed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cfevents.cli import SUBCOMMANDS, CfEventsGroup, LazyCommands, app, load_subcommand

HEAVY = ("requests", "rich", "tabulate", "urllib3", "cfevents.sandbox", "cfevents.cc.client")
SUBCOMMAND_MODULES = (
    "cfevents.cli.usage",
    "cfevents.cli.export",
    "cfevents.cli.events",
    "cfevents.cli.crashes",
)


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    probe = (
        f"import sys, json\n{code}\nsys.__stdout__.write('\\n' + json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def run_cli(*args: str) -> str:
    return (
        "from cfevents.cli import main\n"
        f"sys.argv = ['cfevents', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )


def test_import_cfevents_is_tiny():
    loaded = modules_after("import cfevents")
    assert not loaded & {"typer", *HEAVY, *SUBCOMMAND_MODULES}


@pytest.mark.parametrize(
    "code",
    ["import cfevents.cli", run_cli("--version"), run_cli("--help")],
    ids=["import", "--version", "--help"],
)
def test_start_up_imports_no_heavy_module_and_no_subcommand(code):
    loaded = modules_after(code)
    assert not loaded & set(HEAVY)
    assert not loaded & set(SUBCOMMAND_MODULES)


@pytest.mark.parametrize(
    "code", [run_cli("--version"), run_cli("--help")], ids=["--version", "--help"]
)
def test_version_and_help_load_only_the_root(code):
    """The root group needs only itself and the value conversion: the runtime, the error
    table, the shared options and the completion command load when a command runs (issue 23:
    each was a few million instructions of a start-up budget of 15% of importing Typer)."""
    ours = {m for m in modules_after(code) if m.startswith("cfevents")}
    # cfevents.version: one assignment, no imports (issue 18: the version in its own module)
    assert ours == {"cfevents", "cfevents.version", "cfevents.cli", "cfevents.cli.coercion"}


def test_a_subcommand_loads_only_itself():
    loaded = modules_after(run_cli("usage", "--help"))
    assert {"cfevents.cli.usage", "cfevents.cli.export"} <= loaded
    assert not loaded & {"cfevents.cli.events", "cfevents.cli.crashes", *HEAVY}


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_listed_help_is_the_commands_own(name):
    real = load_subcommand(name)
    stand_in = LazyCommands({}, SUBCOMMANDS).summary(name)
    for limit in (30, 45, 60, 200):
        assert stand_in.get_short_help_str(limit) == real.get_short_help_str(limit)


def test_root_help_is_the_same_lazy_or_loaded(monkeypatch):
    lazy = CliRunner().invoke(app, ["--help"]).stdout
    original = CfEventsGroup.format_commands

    def with_everything_loaded(self, ctx, formatter):
        list(self.commands.values())  # load them all, so the real commands are listed
        original(self, ctx, formatter)

    monkeypatch.setattr(CfEventsGroup, "format_commands", with_everything_loaded)
    loaded = CliRunner().invoke(app, ["--help"]).stdout
    assert "Commands:" in lazy
    assert lazy == loaded


def test_unknown_command_is_still_a_usage_error():
    result = CliRunner().invoke(app, ["usgae"])
    assert result.exit_code == 2
    assert "usage" in result.stderr
