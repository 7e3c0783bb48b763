"""The committed completion scripts are what the app generates (regenerate with
``for s in bash zsh fish; do cfevents completion $s > completions/cfevents.$s; done``)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cfevents.cli import app

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_current(shell):
    result = CliRunner().invoke(app, ["completion", shell])
    assert result.exit_code == 0
    committed = (ROOT / "completions" / f"cfevents.{shell}").read_text()
    assert result.stdout == committed, f"completions/cfevents.{shell} is stale: regenerate it"


def test_unknown_shell_is_usage_error():
    result = CliRunner().invoke(app, ["completion", "tcsh"])
    assert result.exit_code == 2


def test_completion_callback_completes_subcommands():
    env = {
        **os.environ,
        "_CFEVENTS_COMPLETE": "complete_bash",
        "COMP_WORDS": "cfevents us",
        "COMP_CWORD": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "cfevents"], env=env, capture_output=True, text=True, timeout=30
    )
    assert "usage" in out.stdout.split()


# -- issue 20: every enumerated value completes, in each shell, from the script as installed ----


def _wrapper(tmp_path):
    """A `cfevents` on PATH that runs this checkout (what the completion scripts call)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "cfevents"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cfevents "$@"\n')
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "CF_HOME": str(tmp_path)}


def _complete_bash(words, env):
    """COMPREPLY of the committed bash script for the command line ``words`` (last: the word
    being completed)."""
    script = ROOT / "completions" / "cfevents.bash"
    array = " ".join(f"'{w}'" for w in words)
    code = (
        f"source '{script}'; complete -p cfevents >/dev/null || exit 3; "
        f"COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; "
        "_cfevents_completion cfevents; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    out = subprocess.run(
        ["bash", "--norc", "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _shell(name):
    import shutil

    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed on this machine (apt-get install {name})")
    return path


ENUMERATED = [
    (["cfevents", "usage", "list", "-o", ""], {"table", "wide", "json", "ndjson", "csv", "tsv"}),
    (["cfevents", "usage", "report", "--by", ""], {"org", "space", "app", "process"}),
    (
        ["cfevents", "services", "report", "--by", ""],
        {"org", "space", "offering", "plan", "instance"},
    ),
    (["cfevents", "crashes", "--source", ""], {"auto", "v3", "v2"}),
    (["cfevents", "events", "list", "--order", ""], {"desc", "asc"}),
    (["cfevents", "usage", "list", "--state", "TASK"], {"TASK_STARTED", "TASK_STOPPED"}),
    (["cfevents", "events", "list", "--type", "cr"], {"crash"}),
    (
        ["cfevents", "services", "list", "--type", ""],
        {"managed_service_instance", "user_provided_service_instance"},
    ),
    (["cfevents", "usage", "export", "--on-lost-cursor", ""], {"fail", "restart"}),
    (["cfevents", "usage", "report", "--opening", ""], {"snapshot", "events", "none"}),
    (["cfevents", "completion", ""], {"bash", "zsh", "fish"}),
    (["cfevents", "he"], {"help"}),
]


@pytest.mark.parametrize(
    "words,wanted", ENUMERATED, ids=lambda v: " ".join(v[1:]) if isinstance(v, list) else ""
)
def test_bash_completes_enumerated_values(words, wanted, tmp_path):
    _shell("bash")
    assert set(_complete_bash(words, _wrapper(tmp_path))) == wanted


def test_bash_offers_each_global_option_once(tmp_path):
    got = _complete_bash(["cfevents", "--"], _wrapper(tmp_path))
    assert "--local-time" in got and "--safe-csv" in got
    assert len(got) == len(set(got))  # 0.2.0 offered --local-time twice


def test_zsh_loads_the_script_and_completes_values(tmp_path):
    zsh = _shell("zsh")
    script = ROOT / "completions" / "cfevents.zsh"
    code = (
        "autoload -U compinit && compinit -u -d $CF_HOME/zcompdump; "
        '_arguments() { print -r -- "$@" }; '  # what the completion hands zsh, printed
        f"source '{script}'; "
        "(( $+functions[_cfevents_completion] )) || exit 3; "
        "words=(cfevents usage report --by ''); CURRENT=5; _cfevents_completion"
    )
    out = subprocess.run(
        [zsh, "-f", "-c", code], env=_wrapper(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    for value in ("org", "space", "app", "process"):
        assert f'"{value}"' in out.stdout


def test_fish_loads_the_script_and_completes_values(tmp_path):
    fish = _shell("fish")
    script = ROOT / "completions" / "cfevents.fish"
    code = (
        f"source '{script}'; complete -C 'cfevents crashes --source '; "
        "echo ---; complete -C 'cfevents usage report --'"
    )
    out = subprocess.run(
        [fish, "--no-config", "-c", code],
        env=_wrapper(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    values, options = out.stdout.split("---\n")
    assert set(values.split()) == {"auto", "v3", "v2"}
    names = [line.split("\t")[0] for line in options.splitlines()]
    assert "--by" in names and "--month" in names
    assert all(n.startswith("--") for n in names), names  # 0.2.0: a bogus "--out (usage.db, ..."
    assert "--out" not in names or "--out" in _report_options()
    month = next(line for line in options.splitlines() if line.startswith("--month\t"))
    assert "[default: this month so far]" in month  # help kept whole, on one line


def _report_options():
    import typer

    command = typer.main.get_command(app).commands["usage"].commands["report"]
    return [o for p in command.params for o in getattr(p, "opts", [])]


def _logged_in(tmp_path, api, token):
    import json

    cf = tmp_path / ".cf"
    cf.mkdir(exist_ok=True)
    config = {"ConfigVersion": 4, "Target": api, "AccessToken": token}
    (cf / "config.json").write_text(json.dumps(config))


def test_names_come_from_the_target_and_are_cached(sandbox, tmp_path):
    env = _wrapper(tmp_path)
    for name in ("CF_API", "CF_TOKEN", "CF_CLIENT_ID"):
        env.pop(name, None)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["CFEVENTS_COMPLETION_TIMEOUT"] = "10"  # a loaded test machine; the default is 1 s
    _logged_in(tmp_path, sandbox.url, sandbox.admin_token())
    orgs = sorted({o.name for o in sandbox.foundation.orgs})
    assert _complete_bash(["cfevents", "crashes", "--org", ""], env) == orgs
    cached = list((tmp_path / "cache" / "cfevents").glob("names-*-organizations.json"))
    assert len(cached) == 1
    assert "bearer" not in cached[0].read_text().lower()  # names only, never the token
    sandbox.clear_requests()
    assert _complete_bash(["cfevents", "usage", "list", "--org", orgs[0][:2]], env) == [
        o for o in orgs if o.startswith(orgs[0][:2])
    ]
    assert not [r for r in sandbox.requests if r.path == "/v3/organizations"]  # from the cache


def test_names_never_hang_the_shell(tmp_path):
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        env = _wrapper(tmp_path)
        for name in ("CF_API", "CF_TOKEN", "CF_CLIENT_ID"):
            env.pop(name, None)
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        _logged_in(tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}", "bearer x")
        started = time.monotonic()
        assert _complete_bash(["cfevents", "crashes", "--app", ""], env) == []
        # the API never answers; the completion gives up after NAMES_DEADLINE (1 s), not the
        # 30 s request timeout (this bound is generous for a slow machine's start-up)
        assert time.monotonic() - started < 15
    finally:
        silent.close()


def test_no_login_no_names_no_error(tmp_path):
    env = _wrapper(tmp_path)
    for name in ("CF_API", "CF_TOKEN", "CF_CLIENT_ID"):
        env.pop(name, None)
    assert _complete_bash(["cfevents", "crashes", "--space", ""], env) == []
