import csv
import io
import json

import pytest

from cfevents.output.columns import USAGE_COLUMNS, check_fields, get_path, parse_fields
from cfevents.output.formatters import OutputSpec, escape_control, write, write_json, write_one

EVENT = {
    "guid": "e1",
    "created_at": "2024-05-01T00:00:00Z",
    "state": {"current": "STARTED", "previous": None},
    "app": {"guid": "a1", "name": 'odd, "quoted"\nname'},
    "process": None,
    "instance_count": {"current": 2, "previous": None},
}


def render(records, **kw):
    out = io.StringIO()
    n = write(records, out, OutputSpec(**kw))
    return out.getvalue(), n


def test_get_path_tolerates_nulls_and_missing():
    assert get_path(EVENT, "app.name").startswith("odd")
    assert get_path(EVENT, "process.type") is None
    assert get_path(EVENT, "nope.deeper") is None
    assert get_path(EVENT, "state.previous") is None


def test_parse_and_check_fields():
    assert parse_fields("a, b.c,,a") == ["a", "b.c"]
    assert check_fields(["app.name"], USAGE_COLUMNS) is None
    assert "apps.name" in (check_fields(["apps.name"], USAGE_COLUMNS) or "")


def test_csv_quotes_and_nulls_roundtrip():
    text, n = render(
        [EVENT], fmt="csv", columns=("guid", "app.name", "process.type", "instance_count.current")
    )
    assert n == 1
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["guid", "app.name", "process.type", "instance_count.current"],
        ["e1", 'odd, "quoted"\nname', "", "2"],
    ]


def test_tsv_and_no_headers():
    text, _ = render([EVENT], fmt="tsv", columns=("guid", "state.current"), headers=False)
    assert text == "e1\tSTARTED\n"


def test_json_is_one_array_even_when_empty():
    assert json.loads(render([], fmt="json")[0]) == []
    text, n = render([EVENT, EVENT], fmt="json")
    assert n == 2 and json.loads(text) == [EVENT, EVENT]


def test_json_array_closed_when_iterator_fails_midway():
    def broken():
        yield EVENT
        raise RuntimeError("network died")

    out = io.StringIO()
    with pytest.raises(RuntimeError):
        write_json(broken(), out, OutputSpec(fmt="json"))
    assert json.loads(out.getvalue()) == [EVENT]


def test_fields_select_for_json_and_ndjson():
    text, _ = render([EVENT], fmt="ndjson", fields=("state.current", "guid"))
    assert text == '{"state.current":"STARTED","guid":"e1"}\n'
    text, _ = render([EVENT], fmt="json", fields=("guid",))
    assert json.loads(text) == [{"guid": "e1"}]


def test_table_plain_when_piped_and_escapes_control_chars():
    evil = {"app": {"name": "\x1b[2Jboom"}, "guid": "[red]x[/red]"}
    text, _ = render([evil], fmt="table", columns=("app.name", "guid"))
    assert "\x1b" not in text
    assert "\\x1b[2Jboom" in text
    assert "[red]x[/red]" in text


def test_rich_table_prints_markup_literally():
    evil = {"guid": "[red]x[/red]", "app": {"name": "a\x07b"}}
    text, _ = render([evil], fmt="table", columns=("guid", "app.name"), tty=True)
    assert "[red]x[/red]" in text
    assert "\x07" not in text and "\\x07" in text


def test_csv_escapes_control_chars_only_on_terminal():
    rec = {"guid": "a\x1bb"}
    piped, _ = render([rec], fmt="csv", columns=("guid",))
    tty, _ = render([rec], fmt="csv", columns=("guid",), tty=True)
    assert "a\x1bb" in piped
    assert "a\\x1bb" in tty


def test_table_format_any_tabulate_format():
    text, _ = render([EVENT], fmt="table", columns=("guid",), table_format="github")
    assert text.splitlines()[0].startswith("| guid")


def test_escape_control():
    assert escape_control("a\nb\tc") == "a\\x0ab\\x09c"


def test_write_one_json_object_and_vertical_table():
    out = io.StringIO()
    write_one(EVENT, out, OutputSpec(fmt="json"))
    assert json.loads(out.getvalue()) == EVENT
    out = io.StringIO()
    write_one(EVENT, out, OutputSpec(fmt="table", columns=("guid", "state.current")))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["field", "value"]
    assert lines[2].split() == ["guid", "e1"]
