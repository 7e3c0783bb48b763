"""``-o xlsx``: opened with openpyxl, numbers are numeric cells and no cell is a formula."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from cli_helpers import one_line_error
from conftest import END

from cfevents.output.xlsx import Sheet, summary_sheet, write_xlsx

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+2", "-3", "@SUM(A1)", "a\x1b[2Jb", "\tx"]


def open_book(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data))


def no_formulas(book) -> None:
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.data_type == "s"


def test_text_is_never_a_formula_and_numbers_are_typed():
    rows = [
        {
            "name": text,
            "count": 1234567,
            "hours": 1.5,
            "cost": Decimal("12.30"),
            "flags": ["a", "b"],
        }
        for text in HOSTILE
    ]
    out = io.BytesIO()
    sheets = [
        Sheet("usage", ("name", "count", "hours", "cost", "flags"), rows),
        summary_sheet([("window start", "2026-01-01T00:00:00Z"), ("TOTAL cost", Decimal("1.5"))]),
    ]
    assert write_xlsx(sheets, out) == len(HOSTILE)
    book = open_book(out.getvalue())
    assert book.sheetnames == ["usage", "summary"]
    ws = book["usage"]
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]] == ["name", "count", "hours", "cost", "flags"]
    assert all(c.font.b for c in ws[1])
    names = [ws.cell(row=r, column=1).value for r in range(2, len(HOSTILE) + 2)]
    assert names[:4] == HOSTILE[:4]  # kept as they are, as text
    assert names[4] == "a\\x1b[2Jb" and names[5] == "\\x09x"  # controls shown escaped
    for r in range(2, len(HOSTILE) + 2):
        count, hours, cost, flags = (ws.cell(row=r, column=c) for c in (2, 3, 4, 5))
        assert (count.value, count.data_type, count.number_format) == (1234567, "n", "#,##0")
        assert (hours.value, hours.data_type) == (1.5, "n")
        assert (cost.value, cost.number_format) == (12.3, "#,##0.00")
        assert flags.value == "a,b"
    no_formulas(book)


def test_report_and_statement_workbooks_from_the_cli(cli, tmp_path):
    since, until = (
        (END - timedelta(days=9)).strftime("%Y-%m-%d"),
        (END - timedelta(days=2)).strftime("%Y-%m-%d"),
    )
    rates = tmp_path / "rates.toml"
    rates.write_text(
        'currency = "EUR"\n[app]\nmemory_gb_hour = 0.01\n[service_plans]\ndefault = 0.02\n'
    )
    window = ("--since", since, "--until", until, "--rates", str(rates))
    result = cli("usage", "report", *window, "--by", "app", "-o", "xlsx")
    assert result.exit_code == 0, result.stderr
    book = open_book(result.stdout_bytes)
    assert book.sheetnames == ["usage", "summary"]
    as_json = json.loads(cli("usage", "report", *window, "--by", "app", "-o", "json").stdout)
    ws = book["usage"]
    header = [c.value for c in ws[1]]
    assert header == list(as_json[0])
    got = [
        dict(zip(header, (c.value for c in row), strict=True)) for row in ws.iter_rows(min_row=2)
    ]
    assert len(got) == len(as_json)
    for mine, theirs in zip(got, as_json, strict=True):
        assert mine["instance_seconds"] == theirs["instance_seconds"]
        assert isinstance(mine["instance_seconds"], int)
        assert mine["cost"] == pytest.approx(theirs["cost"])
        assert mine["flags"] == (",".join(theirs["flags"]) or None)
    summary = dict(book["summary"].iter_rows(min_row=2, values_only=True))
    assert summary["currency"] == "EUR" and summary["rates file"] == str(rates)
    assert summary["TOTAL cost"] == pytest.approx(sum(r["cost"] for r in as_json))
    no_formulas(book)

    statement = cli("chargeback", *window, "-o", "xlsx")
    assert statement.exit_code == 0, statement.stderr
    book = open_book(statement.stdout_bytes)
    assert book.sheetnames == ["statement", "totals", "summary"]
    lines = {c.value for c in book["totals"]["E"][1:]}
    assert lines == {"total"}
    no_formulas(book)


def test_xlsx_to_a_terminal_is_refused_before_any_request(cli, monkeypatch):
    from cfevents.cli.environment import Environment

    monkeypatch.setattr(Environment, "stdout_isatty", lambda self: True)
    cli.sandbox.clear_requests()
    result = cli("usage", "report", "-o", "xlsx")
    assert result.exit_code == 2
    assert "redirect it to a file" in one_line_error(result)
    assert not cli.sandbox.requests
