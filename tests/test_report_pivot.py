"""``--pivot month`` and ``--compare`` from a history store (four months of a sandbox exported
into SQLite): every month column equals that month's single report, every delta the difference
of two single reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cli_helpers import one_line_error
from conftest import Cli

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 7, 1, 6, 0, 0, tzinfo=UTC)  # 130 days: March to June are whole
MONTHS = ["2026-03", "2026-04", "2026-05", "2026-06"]
RATES = (
    'currency = "CHF"\n[app]\nmemory_gb_hour = 0.013\ninstance_hour = 0.001\n'
    "[[app.periods]]\nfrom = 2026-04-17T08:09:10Z\nmemory_gb_hour = 0.021\n"
    "[task]\nmemory_gb_hour = 0.05\n"
)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    sb = Sandbox(SandboxConfig(seed=3, end=END, days=130)).start()
    home = tmp_path_factory.mktemp("pivot")
    cli = Cli(sb, home)
    store = str(home / "usage.db")
    result = cli("usage", "export", "--out", store)
    assert result.exit_code == 0, result.stderr
    rates = home / "rates.toml"
    rates.write_text(RATES)
    yield cli, store, str(rates)
    sb.stop()


def run(cli, *args):
    result = cli("usage", "report", *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout, parse_float=Decimal), result.stderr


def key(row):
    return (row["org_guid"], row["space_guid"], row["app_guid"])


@pytest.mark.parametrize(("value", "priced"), [("cost", True), ("memory_mb_seconds", False)])
def test_four_months_side_by_side_equal_four_single_month_reports(history, value, priced):
    cli, store, rates = history
    extra = ("--rates", rates) if priced else ()
    source = ("--input", store, "--by", "app", *extra)
    pivot, err = run(cli, *source, "--pivot", "month", "--since", "2026-03", "--until", "2026-07")
    if not priced:
        default, _ = run(
            cli,
            *source,
            "--pivot",
            "month",
            "--since",
            "2026-03",
            "--until",
            "2026-07",
            "--value",
            value,
        )
        pivot = default
    assert pivot and list(pivot[0])[-5:] == [*MONTHS, "total"]
    got = {key(r): r for r in pivot}
    singles = {}
    for month in MONTHS:
        rows, _ = run(cli, *source, "--month", month)
        singles[month] = {key(r): r[value] for r in rows}
    groups = set().union(*(set(s) for s in singles.values()))
    assert set(got) == groups
    for group, row in got.items():
        for month in MONTHS:
            assert row[month] == singles[month].get(group, 0), (group, month)
        assert row["total"] == sum(row[m] for m in MONTHS)
    # months with usage that changed (the price change lies inside April)
    assert len({sum(s.values()) for s in singles.values()}) == 4
    assert "window 2026-03-01T00:00:00Z .. 2026-07-01T00:00:00Z" in err


def test_previous_month_comparison_is_the_difference_of_two_single_reports(history):
    cli, store, rates = history
    source = ("--input", store, "--by", "org", "--rates", rates)
    rows, _ = run(cli, *source, "--month", "2026-05", "--compare")
    may = {r["org_guid"]: r["cost"] for r in run(cli, *source, "--month", "2026-05")[0]}
    april = {r["org_guid"]: r["cost"] for r in run(cli, *source, "--month", "2026-04")[0]}
    assert list(rows[0])[-4:] == ["cost", "previous", "delta", "delta_percent"]
    assert {r["org_guid"]: (r["cost"], r["previous"]) for r in rows} == {
        org: (may.get(org, 0), april.get(org, 0)) for org in may.keys() | april.keys()
    }
    for r in rows:
        assert r["delta"] == r["cost"] - r["previous"]
        want = round(float(r["delta"]) / float(r["previous"]) * 100, 2) if r["previous"] else None
        assert r["delta_percent"] == (Decimal(str(want)) if want is not None else None)
    table = cli("usage", "report", *source, "--month", "2026-05", "--compare")
    assert table.exit_code == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header == [
        "org_name",
        "cost",
        "(CHF)",
        "previous",
        "(CHF)",
        "delta",
        "(CHF)",
        "delta_percent",
    ]
    assert table.stdout.splitlines()[-1].startswith("TOTAL")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--compare",), "--compare needs --month"),
        (("--pivot", "week", "--since", "2026-03"), "--pivot must be month"),
        (
            ("--pivot", "month", "--since", "2026-03", "--value", "cost"),
            "--value cost needs --rates",
        ),
        (
            ("--pivot", "month", "--since", "2026-03", "--value", "max_instances"),
            "--value must be one of",
        ),
        (("--pivot", "month", "--since", "2026-03", "--daily"), "--daily cannot go with"),
        (("--month", "2026-05", "--compare", "--fields", "org_name"), "--fields cannot go with"),
    ],
)
def test_months_options_are_checked_before_any_request(history, args, message):
    cli, _store, _ = history
    cli.sandbox.clear_requests()
    result = cli("usage", "report", *args)
    assert result.exit_code == 2
    assert message in one_line_error(result)
    assert not cli.sandbox.requests


def test_months_as_a_workbook_have_numeric_month_columns(history):
    import io

    import openpyxl

    cli, store, rates = history
    args = ("--input", store, "--by", "org", "--rates", rates, "--pivot", "month")
    window = ("--since", "2026-03", "--until", "2026-07")
    result = cli("usage", "report", *args, *window, "-o", "xlsx")
    assert result.exit_code == 0, result.stderr
    book = openpyxl.load_workbook(io.BytesIO(result.stdout_bytes))
    assert book.sheetnames == ["months", "summary"]
    ws = book["months"]
    header = [c.value for c in ws[1]]
    assert header[-5:] == [*MONTHS, "total"]
    want, _ = run(cli, *args, *window)
    got = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(got) == len(want)
    for row, expected in zip(got, want, strict=True):
        for month in [*MONTHS, "total"]:
            value = row[header.index(month)]
            assert isinstance(value, (int, float)), (month, value)
            assert Decimal(str(value)) == expected[month]
