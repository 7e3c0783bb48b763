"""Every README ```sh example line that starts with `cfevents ` runs on --demo and prints rows
(or writes them to the file it names). The lines that cannot run on a demo are listed below,
each with its reason."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cfevents.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"

SKIP = {
    "--input": "reads a stored history written by an earlier export",
    "--follow": "runs until interrupted",
    "| my-loader": "pipes into the user's own program",
    "EVENT_GUID": "a placeholder for a real GUID",
    "OFFERING_GUID": "a placeholder for a real GUID",
    "GUID ": "a placeholder for a real GUID",
    "$": "a shell variable from a script",
    "--opening may.json": "opens from a state file an earlier report wrote",
    "--opening june.json": "opens from a state file an earlier report wrote",
    "8d1e45a2-3c1e-4a0e-9c55-8f7e1f0a6b3d": "a GUID of the README's example foundation",
    "8f3c3a1e-6c59-4a1e-9d39-0f3c2f7b1a2d": "a GUID of the README's example foundation",
    " /var/": "writes outside the test's directory",
    " /srv/": "writes outside the test's directory",
}
# months the demo (the last 62 days) does not hold: the reports would rightly exit 7
PAST_MONTH = re.compile(r"--(month|since|until) (20(1\d|2[0-5])|2026-0[1-8])")


def examples() -> list[str]:
    lines, block = [], False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            block = line.strip() == "```sh"
            continue
        if block and line.startswith("cfevents "):
            lines.append(line)
    return lines


def toml_example() -> str:
    """The README's first ```toml block (the rates file of "Prices")."""
    text = README.read_text()
    start = text.index("```toml\n") + len("```toml\n")
    return text[start : text.index("```", start)]


def command(line: str) -> tuple[list[str], str | None]:
    """The arguments, and the file the rows go to (``-`` for stdout, also ``> file``)."""
    words = shlex.split(line, comments=True)
    target = None
    for stop in ("|", ">", "&&"):
        if stop in words:
            target = "-" if stop == ">" else target
            words = words[: words.index(stop)]
    if "--out" in words:
        target = words[words.index("--out") + 1]
    return [w for w in words[1:] if w != "--demo"], target


@pytest.mark.parametrize("line", examples())
def test_readme_example_runs_on_demo(line, tmp_path, monkeypatch, request):
    reason = next((why for key, why in SKIP.items() if key in line), None)
    if reason is None and PAST_MONTH.search(line):
        reason = "a window before the demo's data"
    if reason:
        pytest.skip(reason)
    monkeypatch.chdir(tmp_path)
    if "--rates rates.toml" in line:  # the README's own rates file example (section Prices)
        (tmp_path / "rates.toml").write_text(toml_example())
    args, target = command(line)
    if any(arg.startswith("postgresql://") for arg in args):  # the test's own real server
        url = request.getfixturevalue("pg_url")
        args = [url if arg.startswith("postgresql://") else arg for arg in args]
    result = CliRunner().invoke(
        app,
        ["--demo", *args],
        env={"CF_HOME": str(tmp_path), "CF_API": "", "CF_TOKEN": "", "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.stderr
    if "-o xlsx" in line:  # a workbook (a zip) on stdout
        assert result.stdout_bytes.startswith(b"PK"), result.stderr
    elif target is not None and "://" not in target and not target.endswith((".db", ".sqlite")):
        files = [] if target == "-" else sorted(tmp_path.glob(re.sub(r"%.", "*", target)))
        written = result.stdout if target == "-" else files[0].read_text()
        assert len(written.strip().splitlines()) >= 2, written
    elif target is None and "--version" not in args:
        assert result.stdout.strip(), result.stderr
