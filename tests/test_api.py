"""The public Python API against the sandbox: same results as the commands, typed, cheap to import."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import cfevents
from cfevents.api import Client, connect

README = Path(__file__).parent.parent / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("## Python API") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's Python API section has no python block"
    return match.group(1)


@pytest.fixture
def cf_env(cli, monkeypatch, tmp_path):
    for key, value in cli.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return cli


def ndjson(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_import_cfevents_loads_no_heavy_module():
    code = (
        "import sys, cfevents\n"
        "heavy = [m for m in ('requests', 'typer', 'click', 'rich', 'tabulate') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_public_name_resolves():
    for name in cfevents.__all__:
        assert getattr(cfevents, name) is not None
    with pytest.raises(AttributeError):
        _ = cfevents.NoSuchThing  # type: ignore[attr-defined]


def test_py_typed_ships():
    from importlib.resources import files

    assert files("cfevents").joinpath("py.typed").is_file()
    assert (
        '[tool.setuptools.package-data]\ncfevents = ["py.typed"]'
        in (README.parent / "pyproject.toml").read_text()
    )


def test_readme_example_runs_against_the_sandbox(cf_env, capsys):
    code = readme_example()
    used = {
        node.attr
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "cfevents"
    }
    assert used <= set(cfevents.__all__), used - set(cfevents.__all__)
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 + 2 + 2 + 2 + 2
    assert lines[-2] == "not there: 4"
    expected = ndjson(cf_env("usage", "list", "--since", "2026-01-30", "--all", "-o", "ndjson"))
    assert lines[-1] == f"{len(expected)} events exported"
    assert len(expected) > 0
    exec(compile(code, "README.md", "exec"), {})  # the checkpoint: nothing new the second time
    assert capsys.readouterr().out.splitlines()[-1] == "0 events exported"


def test_a_user_script_type_checks_under_mypy_strict(tmp_path):
    script = tmp_path / "user_script.py"
    script.write_text(
        readme_example() + "\n\ndef summary(cf: cfevents.Client) -> list[tuple[str | None, int]]:\n"
        "    return [(r['app']['name'], r['crashes']) for r in cf.crash_summary(since='7d')]\n"
        "\n\ndef order(value: cfevents.Order) -> cfevents.Order:\n"
        "    return value\n"
    )
    bad = tmp_path / "bad_script.py"
    bad.write_text(
        "import cfevents\n\n"
        "def f(cf: cfevents.Client) -> int:\n"
        "    return cf.usage_event('x')['guid']\n"
        "\n\ndef g(cf: cfevents.Client) -> None:\n"
        "    cf.usage_events(sinse='7d')\n"
        "    cf.crashes(order='newest')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}  # as a user runs it
    args = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--python-version",
        "3.11",
    ]
    ok = subprocess.run([*args, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # and it does check: a str returned as int is an error
    wrong = subprocess.run([*args, str(bad)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert wrong.returncode == 1 and "Incompatible return value type" in wrong.stdout
    assert 'Unexpected keyword argument "sinse"' in wrong.stdout
    assert "Literal['desc', 'asc']" in wrong.stdout


def test_every_python_example_in_the_readme_type_checks_under_mypy_strict(tmp_path):
    """Each ```python block of the README, as a user would paste it into a file of their own
    and run mypy --strict on it, with cfevents installed the way the README installs it."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    paths = []
    for n, block in enumerate(blocks):
        paths.append(tmp_path / f"readme_example_{n}.py")
        paths[-1].write_text(block)
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    args = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, paths)]
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_usage_events_match_the_command(cf_env):
    with connect() as cf:
        got = list(cf.usage_events(since="2026-01-20", state="STARTED,STOPPED", limit=40))
    want = ndjson(
        cf_env(
            "usage",
            "list",
            "--since",
            "2026-01-20",
            "--state",
            "STARTED,STOPPED",
            "-n",
            "40",
            "-o",
            "ndjson",
        )
    )
    assert got == want and len(got) == 40


def test_time_values_may_be_datetimes(cf_env):
    with connect() as cf:
        as_text = list(cf.usage_events(since="2026-01-30T00:00:00Z", limit=5))
        as_datetime = list(cf.usage_events(since=datetime(2026, 1, 30, tzinfo=UTC), limit=5))
    assert as_text == as_datetime and as_text


def test_crashes_and_audit_events_match_the_commands(cf_env):
    cf = connect()
    crashes = list(cf.crashes(since="2026-01-01", limit=7))
    assert crashes == ndjson(cf_env("crashes", "--since", "2026-01-01", "-n", "7", "-o", "ndjson"))
    summary = list(cf.crash_summary(since="2026-01-01"))
    assert summary == ndjson(
        cf_env("crashes", "--since", "2026-01-01", "--summary", "--all", "-o", "ndjson")
    )
    audit = list(cf.audit_events(types="audit.app.update", order="asc", limit=5))
    assert audit == ndjson(
        cf_env(
            "events",
            "list",
            "--type",
            "audit.app.update",
            "--order",
            "asc",
            "-n",
            "5",
            "-o",
            "ndjson",
        )
    )
    cf.close()


def test_a_limited_listing_says_what_it_left_out(cf_env):
    cf = connect()
    listing = cf.usage_events(limit=3)
    assert len(list(listing)) == 3
    cut = listing.truncation()
    assert cut is not None and cut.shown == 3 and cut.total == listing.total_results > 3
    everything = cf.usage_events(since="2026-01-31T11:00:00Z")
    list(everything)
    assert everything.truncation() is None


def test_errors_are_typed_and_carry_exit_codes(cf_env):
    cf = connect()
    with pytest.raises(cfevents.UsageError, match=r"^since: ") as bad_time:
        cf.usage_events(since="yesterday")
    assert bad_time.value.exit_code == 2
    with pytest.raises(cfevents.UsageError, match=r"^`per_page` must be between 1 and 5000"):
        cf.usage_events(per_page=0)
    with pytest.raises(cfevents.NotFoundError) as no_org:
        cf.usage_events(org="no-such-org")
    assert no_org.value.exit_code == 4
    with pytest.raises(cfevents.AuthError) as no_token:
        connect(api=cf_env.sandbox.url, token="not-a-token").usage_event("x").get("guid")
    assert no_token.value.exit_code == 3


def test_connect_arguments_come_before_the_environment(cf_env, monkeypatch):
    monkeypatch.setenv("CF_API", "https://api.elsewhere.invalid")
    cf = connect(api=cf_env.sandbox.url)
    assert cf.api == cf_env.sandbox.url.rstrip("/")
    assert next(iter(cf.usage_events(limit=1)))["guid"]


def test_export_job_run_writes_what_the_command_writes(cf_env, tmp_path):
    with connect() as cf, cf.usage_export(out=tmp_path / "lib.csv", since="2026-01-25") as job:
        written = job.run()
        with pytest.raises(cfevents.UsageError, match="call run"):
            iter(job)
    result = cf_env("usage", "export", "--since", "2026-01-25", "--out", str(tmp_path / "cli.csv"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lib.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert written == len((tmp_path / "cli.csv").read_text().splitlines()) - 1 > 0


def test_export_follow_waits_with_the_injected_sleep(cf_env):
    class Enough(Exception):
        pass

    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            raise Enough

    cf = Client.from_settings(connect().http.settings)
    cf.sleep = sleep
    job = cf.usage_export(since="2026-01-31T11:00:00Z", follow=True, interval="5m")
    assert job.plan.min_age is not None and job.plan.interval == 300
    seen = []
    with job, pytest.raises(Enough):
        seen.extend(e["guid"] for e in job)
    assert waits == [300, 300]
    assert seen and len(seen) == len(set(seen))  # each event once across polls
