"""What a person at a terminal sees: run cfevents with stdout on a pseudo-terminal."""

import os
import pty
import re
import subprocess
import sys

from pty_drain import drain

COLOR = re.compile(r"\x1b\[(3[0-9]|9[0-7]|38;)")


def run_on_tty(args, env_extra, sandbox):
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "CF_API": sandbox.url,
        "CF_TOKEN": sandbox.admin_token(),
        "COLUMNS": "200",
        "LINES": "50",
        **env_extra,
    }
    env.pop("CFEVENTS_OUTPUT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cfevents", *args], stdout=slave, stderr=subprocess.DEVNULL, env=env
    )
    os.close(slave)
    written = drain(master, proc)
    return proc.returncode, written


def test_terminal_gets_rich_table_with_markup_shown_literally(sandbox, tmp_path):
    code, out = run_on_tty(
        ["usage", "list", "--app", "[beta]-search", "--limit", "3"],
        {"CF_HOME": str(tmp_path), "NO_COLOR": "1"},
        sandbox,
    )
    assert code == 0
    assert "[beta]-search" in out
    assert "------" not in out  # not the piped tabulate layout
    assert not COLOR.search(out)  # NO_COLOR respected


def test_terminal_json_is_indented(sandbox, tmp_path):
    code, out = run_on_tty(
        ["usage", "list", "--limit", "1", "-o", "json"], {"CF_HOME": str(tmp_path)}, sandbox
    )
    assert code == 0
    assert '\n    "guid": ' in out.replace("\r\n", "\n")
