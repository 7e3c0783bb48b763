"""CI runs what the README tells a new user to run: the same test command, letter for letter,
and no system package install."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    """The command under the README's "# Run the tests:" line in its first code block."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "# Run the tests:")
    return lines[at + 1].strip()


def test_the_readme_test_command_installs_the_test_extra_and_runs_pytest():
    command = readme_test_command()
    assert "pip install -e '.[test]'" in command and command.endswith("pytest"), command


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_test_command() in [line.strip() for line in ci]


def test_ci_installs_no_system_package():
    ci = (ROOT / ".ci" / "run").read_text()
    code = "\n".join(line for line in ci.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\b(apt|apt-get|dnf|yum|apk|brew|sudo)\b", code), code


def test_a_copied_postgresql_install_still_finds_its_libraries(tmp_path):
    """Under root, PostgreSQL runs as nobody; when nobody cannot reach the venv (a clone in a
    0700 ``mktemp -d``), the fixture copies the install. The wheel's binaries find libpq through
    a relative RPATH, so the copy must keep the layout around them."""
    import subprocess

    from pg_server import PgServer, find_bindir

    bindir = find_bindir()
    assert bindir is not None, "no PostgreSQL: the test extra ships one"
    server = PgServer.__new__(PgServer)
    server.root = tmp_path
    copied = server._reachable_by(["false"], bindir)  # the probe fails: the copy path
    assert copied != bindir
    done = subprocess.run([str(copied / "initdb"), "--version"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_operators_cf_login_in_the_shell_does_not_reach_the_tests(tmp_path):
    """A platform operator runs the suite from a shell with `cf` settings exported: tests that
    mean no CF_API, no token and no ~/.cf/config.json still see none (tests/conftest.py)."""
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    (home / ".cf").mkdir(parents=True)
    (home / ".cf" / "config.json").write_text('{"Target": "https://api.real.example"}')
    env = {**os.environ, "CF_API": "http://127.0.0.1:1", "CF_TOKEN": "bearer shell-token"}
    env.update({"CF_HOME": str(home), "CFEVENTS_OUTPUT": "json", "CF_USERNAME": "me"})
    tests = Path(__file__).parent
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
         str(tests / "test_secrets.py::test_no_error_path_prints_a_secret"),
         str(tests / "test_bad_input.py::test_corrupt_cf_config_says_corrupt_not_cf_login")],
        cwd=tests.parent, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
