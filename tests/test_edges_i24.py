"""Issue 24, items 4 and 5: input files validated for meaning, and messages that say what is true.

State files with impossible values are one line naming the field (exit 2); a chain whose last
event Cloud Controller no longer knows is incomplete (exit 7) unless --allow-incomplete;
``--month`` is strictly YYYY-MM; a run that exported no event leaves nothing for the next run to
"remove"; a report from a store never says "Cloud Controller still has"; a pruned window is
never shown as a span that ends before it starts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cli_helpers import one_line_error

from cfevents.errors import ExitCode
from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, tzinfo=UTC)
FIRST, SECOND, THIRD = "2026-02-22T00:00:00Z", "2026-02-24T00:00:00Z", "2026-02-26T00:00:00Z"


@pytest.fixture(scope="module")
def fixed_sandbox():
    sb = Sandbox(SandboxConfig(seed=11, end=END, days=10)).start()
    yield sb
    sb.stop()


@pytest.fixture
def fixed_cli(fixed_sandbox, tmp_path):
    from conftest import Cli

    return Cli(fixed_sandbox, tmp_path)


@pytest.fixture
def state(fixed_cli, tmp_path):
    """A closing state saved by a real report (FIRST to SECOND), as a dict to spoil."""
    path = tmp_path / "state.json"
    done = fixed_cli(
        "usage", "report", "--since", FIRST, "--until", SECOND, "--save-state", str(path)
    )
    assert done.exit_code == 0, done.output
    return json.loads(path.read_text())


def report_from(fixed_cli, tmp_path, data, *extra):
    path = tmp_path / "spoiled.json"
    path.write_text(json.dumps(data))
    return fixed_cli(
        "usage", "report", "--since", SECOND, "--until", THIRD, "--opening", str(path), *extra
    )


def _first(data, kind):
    return next(iter(data[kind].values()))


SPOILS = [
    ("negative instances", lambda d: _first(d, "processes").update(instances=-5), "instances"),
    ("negative memory", lambda d: _first(d, "processes").update(memory_mb=-1), "memory_mb"),
    ("unknown format", lambda d: d.update(format=99), "format is 99"),
    ("no format", lambda d: d.pop("format"), "format is missing"),
    ("processes a list", lambda d: d.update(processes=[]), "processes must be an object"),
    ("tasks a string", lambda d: d.update(tasks="none"), "tasks must be an object"),
    ("no foundation", lambda d: d.pop("foundation"), "foundation is missing"),
    (
        "since after as_of",
        lambda d: _first(d, "processes").update(since="2026-10-04T00:00:00Z"),
        "is after as_of",
    ),
    ("type not text", lambda d: _first(d, "processes").update(type=7), "type is not a string"),
]


@pytest.mark.parametrize(("what", "spoil", "words"), SPOILS, ids=[s[0] for s in SPOILS])
def test_a_state_file_with_impossible_values_is_one_line_naming_the_field(
    fixed_cli, tmp_path, state, what, spoil, words
):
    spoil(state)
    result = report_from(fixed_cli, tmp_path, state)
    line = one_line_error(result)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert words in line and "is not usable" in line


def test_a_chain_whose_last_event_cc_no_longer_knows_is_incomplete(fixed_cli, tmp_path, state):
    assert report_from(fixed_cli, tmp_path, state).exit_code == 0  # the chain as saved holds
    state["last_event_guid"] = "00000000-0000-4000-8000-00000000dead"  # pruned since
    result = report_from(fixed_cli, tmp_path, state)
    line = one_line_error(result)
    assert result.exit_code == ExitCode.INCOMPLETE
    assert "no longer has" in line and "--allow-incomplete" in line
    allowed = report_from(fixed_cli, tmp_path, state, "--allow-incomplete")
    assert allowed.exit_code == 0, allowed.output


@pytest.mark.parametrize("month", ["2026-1", "26-01", "2026-001", "2026-1-1", " 2026-2"])
def test_month_is_strictly_yyyy_mm(fixed_cli, month):
    result = fixed_cli("usage", "report", "--month", month)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "YYYY-MM" in one_line_error(result)


def test_a_run_that_exported_no_event_leaves_nothing_to_remove(fixed_cli, tmp_path):
    out, ckpt = tmp_path / "u.csv", tmp_path / "u.ckpt"
    args = ("usage", "export", "--out", str(out), "--checkpoint", str(ckpt))
    empty = fixed_cli(*args, "--since", "2026-06-01T00:00:00Z")  # after the last event
    assert empty.exit_code == 0, empty.output
    header = out.read_text()
    assert header.startswith("guid,") and header.count("\n") == 1
    again = fixed_cli(*args, "--since", "2026-06-01T00:00:00Z")
    assert again.exit_code == 0, again.output
    assert "removed" not in again.stderr and "interrupted" not in again.stderr
    assert out.read_text() == header  # one header, not cut and written again


def test_a_report_from_a_store_names_the_store_not_cloud_controller(fixed_cli, tmp_path):
    db = str(tmp_path / "usage.db")
    assert fixed_cli("usage", "export", "--out", db).exit_code == 0
    result = fixed_cli("usage", "report", "--input", db, "--month", "2026-01")
    line = one_line_error(result)
    assert result.exit_code == ExitCode.INCOMPLETE
    assert "Cloud Controller" not in line and f"in the store {db}" in line


def test_a_window_entirely_before_the_oldest_event_is_never_a_backwards_span(fixed_cli):
    result = fixed_cli("usage", "list", "--since", "2024-06-01", "--until", "2024-07-01")
    assert result.exit_code == 0, result.output
    assert "covers only" not in result.stderr
    assert "the whole window, up to 2024-07-01T00:00:00Z, is gone" in result.stderr


def test_a_parallel_export_that_runs_out_of_retries_says_so(tmp_path):
    """The --parallel 2 exit 5 under heavy faults: a request that failed on every attempt.
    The one line says the retries were used up, and where a rerun resumes."""
    from conftest import Cli

    from cfevents.sandbox.faults import FaultConfig

    faults = FaultConfig(rate=0.5, kinds=("503", "502"), seed=5, retry_after=0)
    with Sandbox(SandboxConfig(seed=7, end=END, days=10, faults=faults)).start() as sb:
        cli = Cli(sb, tmp_path)
        out, ckpt = tmp_path / "u.ndjson", tmp_path / "u.ckpt"
        result = cli(
            "--retries", "1", "usage", "export", "--out", str(out), "--checkpoint", str(ckpt),
            "--parallel", "2", "--per-page", "20", "--until", "2026-02-28T00:00:00Z",
        )  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.startswith("cfevents: error:")]
    assert result.exit_code == ExitCode.API, result.output
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "gave up after 2 attempts" in errors[0] and "rerun to resume" in errors[0]
