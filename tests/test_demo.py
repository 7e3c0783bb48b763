"""The --demo foundation: its data ends now, with one app in a crash loop in the last hour."""

import csv
import io
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from cfevents.cli import app
from cfevents.sandbox.data import Foundation

END = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_the_recent_crash_loop_is_one_app_every_few_minutes_and_changes_nothing_else():
    plain = Foundation.generate(3, END, days=10)
    looped = Foundation.generate(3, END, days=10, recent_crash_loop=True)
    hour_ago = END - timedelta(hours=1)

    def recent(f):
        return [c for c in f.crashes() if c.timestamp >= hour_ago]

    loop = [c for c in recent(looped) if c not in recent(plain)]
    assert len(loop) >= 8  # every 3 to 6 minutes
    assert len({c.app_guid for c in loop}) == 1
    assert all(c.timestamp < END for c in loop)
    # without the flag (tests, golden files) the foundation is what it always was
    assert Foundation.generate(3, END, days=10).crashes() == plain.crashes()


def test_demo_crashes_in_the_last_hour_prints_the_loop(tmp_path):
    result = CliRunner().invoke(
        app,
        ["--demo", "crashes", "--since", "1h", "-o", "csv"],
        env={"CF_HOME": str(tmp_path), "CF_API": "", "CF_TOKEN": ""},
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) >= 8
    assert len({r["app.guid"] for r in rows}) == 1
