"""--out without silent surprises: unwritable extensions, existing files, dated names."""

from datetime import datetime

import pytest
from cli_helpers import one_line_error


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
        assert "holds no usage events before" in one_line_error(result)
        assert result.stdout == ""


def test_a_window_cc_still_holds_gives_no_warning(cli):
    oldest = cli(
        "usage", "list", "--order", "asc", "--limit", "1", "-o", "csv", "--fields", "created_at"
    )
    start = oldest.stdout.split()[1]
    result = cli("usage", "list", "--since", start, "--limit", "1", "--require-complete")
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
