"""--out without silent surprises: unwritable extensions, existing files, dated names."""

from datetime import UTC, datetime, timedelta

import pytest
from cli_helpers import one_line_error, run

from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.sandbox.store import iso_second


def test_unwritable_extension_is_a_usage_error(cli, tmp_path):
    target = tmp_path / "usage.xlsx"
    result = cli("usage", "export", "--out", str(target))
    assert result.exit_code == 2
    assert "cannot write .xlsx" in one_line_error(result)
    assert not target.exists()
    assert not cli.sandbox.requests


def test_an_explicit_format_writes_any_name(cli, tmp_path):
    target = tmp_path / "usage.txt"
    result = cli("usage", "export", "--out", str(target), "-o", "csv")
    assert result.exit_code == 0, result.stderr
    assert target.read_text().startswith("guid,")


@pytest.mark.parametrize("name", ["history.db", "history.sqlite", "history.sqlite3"])
def test_store_extensions_are_not_refused_as_unwritable(cli, tmp_path, name):
    result = cli("usage", "export", "--out", str(tmp_path / name))
    assert "cannot write" not in result.stderr


def test_existing_file_needs_force(cli, tmp_path):
    target = tmp_path / "usage.csv"
    target.write_text("precious\n")
    refused = cli("usage", "export", "--out", str(target))
    assert refused.exit_code == 2
    assert "--force" in one_line_error(refused)
    assert target.read_text() == "precious\n"
    forced = cli("usage", "export", "--out", str(target), "--force")
    assert forced.exit_code == 0, forced.stderr
    text = target.read_text()
    assert text.startswith("guid,") and "precious" not in text
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert cli("usage", "export", "--out", str(empty)).exit_code == 0


def test_checkpoint_appends_without_force(cli, tmp_path):
    target = tmp_path / "usage.csv"
    checkpoint = tmp_path / "usage.ckpt"
    first = cli("usage", "export", "--out", str(target), "--checkpoint", str(checkpoint))
    assert first.exit_code == 0, first.stderr
    again = cli("usage", "export", "--out", str(target), "--checkpoint", str(checkpoint))
    assert again.exit_code == 0, again.stderr


def test_strftime_pattern_names_a_dated_file(cli, tmp_path):
    result = cli("usage", "export", "--out", str(tmp_path / "usage-%Y-%m-%d.csv"))
    assert result.exit_code == 0, result.stderr
    today = datetime.now().strftime("%Y-%m-%d")
    dated = tmp_path / f"usage-{today}.csv"
    assert dated.read_text().startswith("guid,")
    assert not list(tmp_path.glob("*%*"))


def test_window_before_the_oldest_event_warns_with_the_span_covered(cli):
    listed = cli("usage", "list", "--since", "2000-01-01", "--limit", "1")
    assert listed.exit_code == 0, listed.stderr
    assert "warning: the window starts 2000-01-01T00:00:00Z" in listed.stderr
    assert "this covers only" in listed.stderr
    exported = cli("usage", "export", "--since", "2000-01-01")
    assert exported.exit_code == 0
    assert "this covers only" in exported.stderr


def test_require_complete_exits_7(cli):
    for command in (["usage", "list"], ["usage", "export"]):
        result = cli(*command, "--since", "2000-01-01", "--require-complete")
        assert result.exit_code == 7, result.stderr
        assert "holds no app usage events before" in one_line_error(result)
        assert result.stdout == ""
    for command in (["services", "list"], ["services", "export"]):
        result = cli(*command, "--since", "2000-01-01", "--require-complete")
        assert result.exit_code == 7, result.stderr
        assert "holds no service usage events before" in one_line_error(result)
        assert result.stdout == ""


def test_service_usage_coverage_is_judged_on_the_service_events_cc_still_holds(tmp_path):
    """CC prunes service usage events on their own: a window their cleanup cut is refused or
    warned about by the services commands, whatever app usage still holds."""
    end = datetime(2026, 3, 1, tzinfo=UTC)
    with Sandbox(SandboxConfig(seed=3, end=end)).start() as sb:
        sb.prune_service_usage_events_before(end - timedelta(days=10))
        oldest = min(e.created_us for e in sb.foundation.services.events)
        held = iso_second(oldest)
        env = {"CF_API": sb.url, "CF_TOKEN": sb.admin_token(), "CF_HOME": str(tmp_path)}
        env["CFEVENTS_OUTPUT"] = ""
        since = "2026-02-10T00:00:00Z"  # app usage still reaches back that far
        apps = run(env, "usage", "list", "--since", since, "--limit", "1", "--require-complete")
        assert apps.exit_code == 0 and "warning" not in apps.stderr, apps.stderr
        for command in (["services", "list"], ["services", "export", "-o", "ndjson"]):
            refused = run(env, *command, "--since", since, "--require-complete")
            assert refused.exit_code == 7, refused.stderr
            assert f"holds no service usage events before {held}" in one_line_error(refused)
            assert refused.stdout == ""
        warned = run(env, "services", "list", "--since", since, "--limit", "1")
        assert warned.exit_code == 0 and len(warned.stdout.splitlines()) == 3  # header, rule, 1
        assert f"this covers only {held} to now" in warned.stderr
        later = run(env, "services", "list", "--since", held, "--limit", "1", "--require-complete")
        assert later.exit_code == 0 and "warning" not in later.stderr, later.stderr


def test_a_window_cc_still_holds_gives_no_warning(cli):
    oldest = cli(
        "usage", "list", "--order", "asc", "--limit", "1", "-o", "csv", "--fields", "created_at"
    )
    start = oldest.stdout.split()[1]
    result = cli("usage", "list", "--since", start, "--limit", "1", "--require-complete")
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
