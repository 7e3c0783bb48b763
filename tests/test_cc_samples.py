"""Every real Cloud Controller payload in tests/fixtures/cc-samples/ through every command and
format that reads its shape: nothing crashes, every field shows, JSON/CSV/TSV parse back.

The samples are copies of ../shared/reference/cc-samples/ (their INDEX.md names each file's
repository, path and commit). Each is served, as CC would, by `responses`; list pages are served
as the single page they are (a `next` link is dropped: paging is tested elsewhere).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import responses
from cli_helpers import API, run

from cfevents.events.audit import normalise_v2, normalise_v3
from cfevents.output.columns import get_path
from cfevents.output.formatters import cell

SAMPLES = Path(__file__).parent / "fixtures" / "cc-samples"
FORMATS = ("json", "ndjson", "csv", "tsv", "table")
ROOT = {"links": {"self": {"href": API}, "cloud_controller_v2": {"href": f"{API}/v2"}}}
EMPTY = {"pagination": {"total_results": 0, "total_pages": 1, "next": None}, "resources": []}


def body_of(name: str):
    return json.loads((SAMPLES / name).read_text())["body"]


def kind_of(body) -> str:
    """Which shape a sample is: decides the commands that read it."""
    if "errors" in body:
        return "error"
    resources = body.get("resources")
    first = (resources or [{}])[0] if isinstance(resources, list) else body
    if "entity" in first:
        key = "v2-usage" if "state" in first["entity"] else "v2-event"
    elif "state" in first:
        key = "v3-usage"
    elif "actor" in first:
        key = "v3-event"
    else:
        return "not-an-event"  # GET /v2/info, GET /v3: no cfevents command reads them
    return key + ("-list" if isinstance(resources, list) else "-get")


ALL = sorted(p.name for p in SAMPLES.glob("*.json"))
BY_KIND: dict[str, list[str]] = {}
for _name in ALL:
    BY_KIND.setdefault(kind_of(body_of(_name)), []).append(_name)


def test_every_sample_has_a_shape_and_the_copies_match_the_index():
    index = (SAMPLES / "INDEX.md").read_text()
    assert ALL and all(f"`{name}`" in index for name in ALL)
    assert set(BY_KIND) <= {
        "v3-usage-list", "v3-usage-get", "v2-usage-list", "v2-usage-get", "v3-event-list",
        "v3-event-get", "v2-event-list", "v2-event-get", "error", "not-an-event",
    }  # fmt: skip
    assert sorted(BY_KIND["not-an-event"]) == [
        "ccng_docs_v2_info__get_info_0.json",
        "ccng_docs_v3_root.json",
    ]
    # v2 usage lists have no list command (`usage get --v2` reads single events)
    assert len(BY_KIND["v2-usage-list"]) == 1


def one_page(body):
    body = copy.deepcopy(body)
    if isinstance(body.get("pagination"), dict):
        body["pagination"]["next"] = None
    if "next_url" in body:
        body["next_url"] = None
    return body


def serve(mock, path: str, body, status: int = 200):
    """The sample at ``path``; GET / and the name lookups answered as an empty foundation."""

    def answer(request):
        got = urlsplit(request.url).path
        if got == "/":
            return 200, {}, json.dumps(ROOT)
        if got == path:
            return status, {"X-VCAP-Request-ID": "req-1"}, json.dumps(body)
        return 200, {}, json.dumps(EMPTY)

    mock.add_callback(responses.GET, re.compile(re.escape(API) + ".*"), callback=answer)


def run_sample(env, path, body, *args, status=200):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve(mock, path, body, status)
        return run(env, *args)


def parse(fmt: str, text: str) -> list[dict]:
    """Read an output back: JSON objects, or rows of CSV/TSV as {column: text}."""
    if fmt == "json":
        return json.loads(text)
    if fmt == "ndjson":
        return [json.loads(line) for line in text.splitlines()]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    unescape = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    lines = [[re.sub(r"\\[\\tnr]", lambda m: unescape[m.group()], c) for c in line.split("\t")]
             for line in text.splitlines()]  # fmt: skip
    return [dict(zip(lines[0], row, strict=True)) for row in lines[1:]]


def check(fmt: str, result, objects: list[dict]):
    """The output in ``fmt`` shows ``objects`` (what JSON printed): every column, every value."""
    assert result.exit_code == 0, result.stderr
    assert "unexpected" not in result.stderr
    if fmt == "table":  # a header, a rule, then one line per object (newlines show escaped)
        assert len(result.stdout.splitlines()) == 2 + len(objects)
        return
    rows = parse(fmt, result.stdout)
    assert len(rows) == len(objects)
    if fmt in ("json", "ndjson"):
        assert rows == objects
        return
    for row, obj in zip(rows, objects, strict=True):
        for column, text in row.items():
            assert text == cell(get_path(obj, column)), (column, text)


def leaves(value, prefix=""):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, value


def named(objects: list[dict]) -> list[dict]:
    """The usage events as cfevents shows them: organization.name looked up (none here)."""
    shown = json.loads(json.dumps(objects))
    for obj in shown:
        if isinstance(obj.get("organization"), dict):
            obj["organization"]["name"] = None
    return shown


# -- app usage events ------------------------------------------------------------------------


@pytest.mark.parametrize("name", BY_KIND["v3-usage-list"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_usage_list_and_export(env, name, fmt):
    body = one_page(body_of(name))
    expected = named(body["resources"])  # CC's events, plus the org name cfevents looks up
    for args in (["usage", "list", "--all"], ["usage", "export"]):
        if fmt == "table" and args[1] == "export":
            continue
        result = run_sample(env, "/v3/app_usage_events", body, *args, "-o", fmt)
        check(fmt, result, expected)  # JSON is exactly what CC sent: every field shows


@pytest.mark.parametrize("name", BY_KIND["v3-usage-get"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_usage_get(env, name, fmt):
    body = body_of(name)
    result = run_sample(
        env, f"/v3/app_usage_events/{body['guid']}", body, "usage", "get", body["guid"], "-o", fmt
    )
    if fmt == "json":
        assert result.exit_code == 0 and json.loads(result.stdout) == named([body])[0]
    elif fmt == "table":
        assert result.exit_code == 0 and body["guid"] in result.stdout
    else:
        check(fmt, result, named([body]))


@pytest.mark.parametrize("name", BY_KIND["v2-usage-get"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_usage_get_v2(env, name, fmt):
    body = body_of(name)
    guid = body["metadata"]["guid"]
    result = run_sample(
        env, f"/v2/app_usage_events/{guid}", body, "usage", "get", guid, "--v2", "-o", fmt
    )
    if fmt == "json":
        assert result.exit_code == 0 and json.loads(result.stdout) == body
    elif fmt == "table":
        assert result.exit_code == 0 and guid in result.stdout
    else:
        check(fmt, result, [body])


# -- audit events and crashes ----------------------------------------------------------------


EVENT_LISTS = [(n, "v3") for n in BY_KIND["v3-event-list"]] + [
    (n, "v2") for n in BY_KIND["v2-event-list"]
]
EVENT_GETS = [(n, "v3") for n in BY_KIND["v3-event-get"]] + [
    (n, "v2") for n in BY_KIND["v2-event-get"]
]
PATHS = {"v3": "/v3/audit_events", "v2": "/v2/events"}


def normalised(resource, source):
    return normalise_v3(resource) if source == "v3" else normalise_v2(resource)


def assert_every_field_shows(resource, source, shown):
    """Every value CC sent is in the printed event (under its normalised name)."""
    if source == "v3":
        keys = ("guid", "created_at", "type", "actor", "target", "data")
        expected = {k: resource.get(k) for k in keys}
        for scope in ("space", "organization"):
            expected[f"{scope}.guid"] = (resource.get(scope) or {}).get("guid")
    else:
        meta, entity = resource["metadata"], resource["entity"]
        expected = {
            "guid": meta["guid"], "created_at": entity["timestamp"], "type": entity["type"],
            "actor": {"guid": entity["actor"], "type": entity["actor_type"], "name": entity["actor_name"]},
            "target": {"guid": entity["actee"], "type": entity["actee_type"], "name": entity["actee_name"]},
            "data": entity["metadata"],
            "space.guid": entity.get("space_guid"),
            "organization.guid": entity.get("organization_guid"),
        }  # fmt: skip
    for path, value in leaves(expected):  # "space.guid" is one key here, a path in shown
        assert get_path(shown, path) == (None if value == "" else value), path


OTHER_FORMATS = ("ndjson", "csv", "tsv", "table")


@pytest.mark.parametrize(("name", "source"), EVENT_LISTS)
def test_events_list(env, name, source):
    body = one_page(body_of(name))
    args = ("events", "list", "--all", "--source", source)
    result = run_sample(env, PATHS[source], body, *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    by_guid = {e["guid"]: e for e in shown}
    for resource in body["resources"]:
        assert_every_field_shows(resource, source, by_guid[normalised(resource, source)["guid"]])
    for fmt in OTHER_FORMATS:
        check(fmt, run_sample(env, PATHS[source], body, *args, "-o", fmt), shown)


@pytest.mark.parametrize(("name", "source"), EVENT_GETS)
def test_events_get(env, name, source):
    body = body_of(name)
    guid = normalised(body, source)["guid"]
    args = ("events", "get", guid, "--source", source)
    result = run_sample(env, f"{PATHS[source]}/{guid}", body, *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert_every_field_shows(body, source, shown)
    for fmt in OTHER_FORMATS:
        result = run_sample(env, f"{PATHS[source]}/{guid}", body, *args, "-o", fmt)
        if fmt == "table":
            assert result.exit_code == 0 and guid in result.stdout
        else:
            check(fmt, result, [shown])


@pytest.mark.parametrize(("name", "source"), EVENT_LISTS)
@pytest.mark.parametrize("summary", [False, True])
def test_crashes(env, name, source, summary):
    body = one_page(body_of(name))
    args = ["crashes", "--all", "--source", source, *(["--summary"] if summary else [])]
    result = run_sample(env, PATHS[source], body, *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    crash_types = {"app.crash", "audit.app.process.crash"}
    crashes = [normalised(r, source) for r in body["resources"]]
    crashes = [e for e in crashes if e["type"] in crash_types]
    if not summary:
        for record in shown:  # every crash detail CC sent is in its crash record
            guids = (record["app_crash_guid"], record["process_crash_guid"])
            data = next(e for e in crashes if e["guid"] in guids)["data"]
            assert record["instance"] == {"guid": data.get("instance"), "index": data.get("index")}
            for key, value in data.items():
                if key not in ("instance", "index") and key in record:
                    assert record[key] == value, key
    assert (len(shown) > 0) == bool(crashes)
    for fmt in OTHER_FORMATS:
        check(fmt, run_sample(env, PATHS[source], body, *args, "-o", fmt), shown)


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BY_KIND["error"])
@pytest.mark.parametrize("status", [422, 500])
def test_error_envelopes_are_one_line_with_every_detail(env, name, status):
    body = body_of(name)
    result = run_sample(env, "/v3/audit_events", body, "events", "list", status=status)
    assert result.exit_code == 5
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cfevents: error: ")
    for error in body["errors"]:
        assert error["detail"] in lines[0]
