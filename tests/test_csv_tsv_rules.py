"""CSV quotes CR too, TSV escapes by its documented rule, --safe-csv neutralises formulas."""

import csv
import io

import pytest
import responses
from cli_helpers import API, run

from cfevents.output.formatters import OutputSpec, write

COLUMNS = ("guid", "app.name")


def render(records, fmt, **spec):
    out = io.StringIO()
    write(records, out, OutputSpec(fmt=fmt, columns=COLUMNS, **spec))
    return out.getvalue()


def test_csv_quotes_a_lone_cr_and_keeps_lf_line_ends():
    text = render([{"guid": "g", "app": {"name": "a\rb"}}], "csv")
    assert text == 'guid,app.name\ng,"a\rb"\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [list(COLUMNS), ["g", "a\rb"]]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("tab\there", "tab\\there"),
        ("two\nlines", "two\\nlines"),
        ("cr\rhere", "cr\\rhere"),
        ("back\\slash", "back\\\\slash"),
        ('"quoted", plain', '"quoted", plain'),  # no quoting in TSV: quotes are data
        ("literal \\n", "literal \\\\n"),
    ],
)
def test_tsv_escapes_tab_newline_cr_and_backslash(value, written):
    text = render([{"guid": "g", "app": {"name": value}}], "tsv")
    assert text == f"guid\tapp.name\ng\t{written}\n"
    row = text.splitlines()[1].split("\t")
    unescape = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    import re

    assert re.sub(r"\\[\\tnr]", lambda m: unescape[m.group()], row[1]) == value


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_safe_csv_prefixes_formula_cells(lead):
    record = {"guid": "g", "app": {"name": f"{lead}HYPERLINK(1)"}}
    rows = list(csv.reader(io.StringIO(render([record], "csv", safe_csv=True), newline="")))
    assert rows[1] == ["g", f"'{lead}HYPERLINK(1)"]
    assert render([record], "tsv", safe_csv=True).splitlines()[1].split("\t")[1].startswith("'")
    # without the flag the data is written as it is
    rows = list(csv.reader(io.StringIO(render([record], "csv"), newline="")))
    assert rows[1] == ["g", f"{lead}HYPERLINK(1)"]


def test_safe_csv_leaves_numbers_and_other_cells_alone():
    out = io.StringIO()
    spec = OutputSpec(fmt="csv", columns=("n", "name"), safe_csv=True)
    write([{"n": -5, "name": "a=b"}], out, spec)
    assert out.getvalue() == "n,name\n-5,a=b\n"


@responses.activate
def test_safe_csv_flag_end_to_end(env):
    event = {
        "guid": "e1",
        "created_at": "2024-05-01T00:00:00Z",
        "app": {"guid": "a", "name": "=cmd|' /C calc'!A0"},
        "state": {"current": "STARTED", "previous": None},
    }
    page = {"pagination": {"total_results": 1, "next": None}, "resources": [event]}
    responses.get(f"{API}/v3/app_usage_events", json=page)
    args = ("usage", "list", "-o", "csv", "--fields", "guid,app.name")
    plain = run(env, *args)
    safe = run(env, "--safe-csv", *args)
    assert plain.exit_code == safe.exit_code == 0, safe.stderr
    assert list(csv.reader(io.StringIO(plain.stdout)))[1] == ["e1", "=cmd|' /C calc'!A0"]
    assert list(csv.reader(io.StringIO(safe.stdout)))[1] == ["e1", "'=cmd|' /C calc'!A0"]
