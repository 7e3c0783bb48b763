"""The formatters' fast paths write exactly what the straightforward code writes."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cfevents.output.columns import USAGE_COLUMNS, get_path, row_getter
from cfevents.output.formatters import (
    OutputSpec,
    cell,
    escape_control,
    tsv_escape,
    write,
    write_pages,
)

TRICKY = [
    {"guid": "g1", "state": {"current": "STARTED", "previous": None}, "n": 0, "x": {"y": {"z": 3}}},
    {"guid": "g2", "state": None, "n": 1.5, "flag": True, "x": {"y": None}},
    {"guid": "g3", "state": "oops", "n": -2, "flag": False, "x": [1, 2]},  # a string mid-path
    {"guid": "g4", "state": [], "obj": {"b": 1, "a": [True, None]}, "x": {"y": {"z": "a,b"}}},
    {"guid": 'q"uote', "state": {"current": "tab\there"}, "n": 10**20, "x": 7},
    {"guid": "nl\nline", "state": {"current": ""}, "n": 1e16, "x": {"y": ""}},
    {"guid": "ctl\x1b[2J", "state": {"current": 0}, "x": {"y": {"z": False}}},
    {},
]
PATHS = ["guid", "state.current", "state.previous", "n", "flag", "obj", "x.y.z", "x.y", "missing.a"]


@pytest.mark.parametrize("record", TRICKY, ids=lambda r: str(r.get("guid")))
def test_row_getter_is_get_path(record):
    assert row_getter(PATHS)(record) == [get_path(record, p) for p in PATHS]


def test_row_getter_on_something_that_is_not_a_mapping():
    assert row_getter(["a", "a.b"])(["not", "a", "dict"]) == [None, None]


def reference_delimited(records, spec, delim):
    """The formatter without its fast paths: get_path + cell for every value, then the
    documented rules (CSV: RFC 4180 quoting, CR included; TSV: backslash escapes)."""
    out = io.StringIO()
    columns = list(spec.selected)
    clean = escape_control if spec.tty else (lambda text: text)
    rows = [columns] if spec.headers else []
    rows += [[cell(get_path(record, c)) for c in columns] for record in records]
    if delim == "\t":
        for row in rows:
            out.write("\t".join(clean(tsv_escape(v)) for v in row) + "\n")
        return out.getvalue()
    writer = csv.writer(out, delimiter=delim, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow([clean(v) for v in row])
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("columns", [PATHS, ["guid"], ["x.y"], list(USAGE_COLUMNS)])
def test_delimited_output_is_unchanged(fmt, tty, columns):
    spec = OutputSpec(fmt=fmt, columns=columns, tty=tty)
    out = io.StringIO()
    assert write(iter(TRICKY), out, spec) == len(TRICKY)
    assert out.getvalue() == reference_delimited(TRICKY, spec, "," if fmt == "csv" else "\t")


@pytest.mark.parametrize("tty", [False, True])
def test_json_and_ndjson_output_is_unchanged(tty):
    out = io.StringIO()
    write(iter(TRICKY), out, OutputSpec(fmt="ndjson", tty=tty))
    expected = "".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in TRICKY
    )
    assert out.getvalue() == expected
    out = io.StringIO()
    write(iter(TRICKY), out, OutputSpec(fmt="json", tty=tty))
    texts = [json.dumps(r, indent=2 if tty else None, ensure_ascii=False) for r in TRICKY]
    if tty:
        texts = ["  " + t.replace("\n", "\n  ") for t in texts]
    assert out.getvalue() == "[\n" + ",\n".join(texts) + "\n]\n"


CR_ROWS = [
    {"guid": "cr\rinside", "n": 1},
    {"guid": "crlf\r\ninside", "n": 2},
    {"guid": "plain", "n": 3, "flag": True},
]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "ndjson", "json"])
@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("safe", [False, True])
@pytest.mark.parametrize("columns", [PATHS, list(USAGE_COLUMNS)])
def test_pages_are_written_as_their_records_are(fmt, tty, safe, columns):
    """write_pages (the export's hot path: one string per page) gives write()'s bytes, with
    pages that hold a CR or CRLF inside a value, booleans, objects, and pages without them."""
    records = [*TRICKY, *CR_ROWS, {"guid": "=1+1", "n": "-5"}]
    pages = [records[:3], [], records[3:8], records[8:]]
    plain_pages = [[{"guid": f"g{i}", "n": i} for i in range(3)]] * 2
    for chunks in (pages, plain_pages):
        spec = OutputSpec(fmt=fmt, columns=columns, tty=tty, safe_csv=safe)
        expected, got = io.StringIO(), io.StringIO()
        flat = [r for page in chunks for r in page]
        assert write_pages(iter(chunks), got, spec) == write(iter(flat), expected, spec)
        assert got.getvalue() == expected.getvalue()


def test_a_page_no_value_of_which_needs_quoting_skips_the_csv_module(monkeypatch):
    """The CSV hot path: a page of strings, numbers and nulls none of which holds a comma,
    quote, CR or LF is joined in C; any such value sends its page through the csv module,
    with the same bytes."""
    from cfevents.output import formatters

    rows: list[str] = []

    class Collect:
        def __init__(self, write):
            self.write = lambda row: (rows.append(row), write(row))

    monkeypatch.setattr(formatters, "_Collect", Collect)
    plain = [{"guid": f"g{i}", "n": i, "x": {"y": None if i % 2 else 1.5}} for i in range(1200)]
    quoted = [{"guid": "a,b", "n": 1}, {"guid": "q", "n": 2}]
    spec = OutputSpec(fmt="csv", columns=["guid", "n", "x.y"])
    cases = (([plain[:20], plain[20:]], 0), ([plain[:5], quoted], 2), ([plain[:900] + quoted], 902))
    for pages, through_csv in cases:
        rows.clear()
        got, expected = io.StringIO(), io.StringIO()
        write_pages(iter(pages), got, spec)
        write([r for page in pages for r in page], expected, spec)
        assert got.getvalue() == expected.getvalue()
        assert len(rows) == through_csv


ALPHABET = ["a", " ", "\x00", "é", "\u2028", "\t", "=", "-", ",", '"', "\r", "\n", ""]


@pytest.mark.parametrize("seed", range(4))
def test_pages_joined_in_c_are_what_the_csv_module_writes(seed):
    """Random pages of strings (now and then with a character that needs quoting), numbers
    and nulls, one to four columns: write_pages gives write()'s bytes."""
    import random

    rng = random.Random(seed)

    def value():
        text = "".join(rng.choice(ALPHABET[: 8 if rng.random() < 0.9 else None]) for _ in "abc")
        return rng.choice([None, 0, -3, 2.5, 1e300, float("inf"), 10**20, text, text])

    for _ in range(300):
        columns = [f"c{i}" for i in range(rng.randint(1, 4))]
        records = [{c: value() for c in columns} for _ in range(rng.randint(0, 6))]
        spec = OutputSpec(fmt="csv", columns=columns)
        got, expected = io.StringIO(), io.StringIO()
        write_pages(iter([records[:3], records[3:]]), got, spec)
        write(iter(records), expected, spec)
        assert got.getvalue() == expected.getvalue()


def test_org_names_are_filled_per_page_as_event_by_event():
    """org_names_page sets every name in C when each event has an organization object with a
    string guid; either way each org is looked up once, in the order first seen, and the page
    ends up as org_namer leaves it event by event."""
    import copy

    from cfevents.events.resolve import org_namer, org_names_page

    class Resolver:
        def __init__(self):
            self.asked = []

        def name(self, kind, guid):
            self.asked.append(guid)
            return None if guid == "gone" else f"name-{guid}"

    plain = [{"organization": {"guid": g}} for g in ["o2", "o1", "o2", "gone", "o3", "o1"]]
    odd = [*plain[:2], {"organization": None}, {}, {"organization": {"guid": 7}}, *plain[2:]]
    for page in (plain, odd):
        fast, slow = Resolver(), Resolver()
        got, expected = copy.deepcopy(page), copy.deepcopy(page)
        org_names_page(fast)(got)
        namer = org_namer(slow)
        expected = [namer(event) for event in expected]
        assert got == expected
        assert fast.asked == ["o2", "o1", "gone", "o3"]
