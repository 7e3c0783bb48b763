"""`events`/`crashes` JSON and NDJSON are identical whichever API answered (empty names → null)."""

import json

import pytest
import responses
from cli_helpers import API, run
from test_cli_events import ROOT_V2_ON, mock_names, v2_event, v2_page, v3_event, v3_page

from cfevents.events.audit import normalise_v2, normalise_v3

AT = "2024-05-01T10:00:00Z"


def blank_v3(guid, kind="audit.app.update", data=None):
    event = v3_event(guid, AT, kind, org=None)
    event["actor"]["name"] = ""
    event["target"]["name"] = ""
    event["target"]["type"] = ""
    if data is not None:
        event["data"] = data
    return event


def blank_v2(guid, kind="audit.app.update", data=None):
    event = v2_event(guid, AT, kind, org=None)
    event["entity"].update(actor_name="", actee_name="", actee_type="")
    if data is not None:
        event["entity"]["metadata"] = data
    return event


def test_the_rule_empty_strings_are_null_from_both_apis():
    v3, v2 = normalise_v3(blank_v3("e1")), normalise_v2(blank_v2("e1"))
    assert v3 == v2
    assert v3["actor"]["name"] is None and v3["target"]["name"] is None
    assert v3["target"]["type"] is None and v3["organization"]["guid"] is None


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_events_list_and_get_are_identical_from_v2_and_v3(env, fmt):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{API}/", json=ROOT_V2_ON)
        mock.get(f"{API}/v2/events", json=v2_page([blank_v2("e1")]))
        mock.get(f"{API}/v3/audit_events", json=v3_page([blank_v3("e1")]))
        mock.get(f"{API}/v2/events/e1", json=blank_v2("e1"))
        mock.get(f"{API}/v3/audit_events/e1", json=blank_v3("e1"))
        mock_names(mock)
        results = {
            src: (
                run(env, "events", "list", "--source", src, "-o", fmt),
                run(env, "events", "get", "e1", "--source", src, "-o", "json"),
            )
            for src in ("v2", "v3")
        }
    (v2_list, v2_get), (v3_list, v3_get) = results["v2"], results["v3"]
    assert v2_list.exit_code == v3_list.exit_code == 0, v2_list.stderr + v3_list.stderr
    assert v2_list.stdout == v3_list.stdout
    assert v2_get.exit_code == v3_get.exit_code == 0, v2_get.stderr + v3_get.stderr
    assert v2_get.stdout == v3_get.stdout
    first = (
        json.loads(v3_list.stdout)[0]
        if fmt == "json"
        else json.loads(v3_list.stdout.splitlines()[0])
    )
    assert first["actor"]["name"] is None and first["target"]["name"] is None


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_crashes_are_identical_from_v2_and_v3(env, fmt):
    data = {"instance": "i-1", "index": 0, "reason": "CRASHED", "exit_status": 1,
            "exit_description": "", "cell_id": ""}  # fmt: skip
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{API}/", json=ROOT_V2_ON)
        mock.get(f"{API}/v2/events", json=v2_page([blank_v2("c1", "app.crash", data)]))
        mock.get(f"{API}/v3/audit_events", json=v3_page([blank_v3("c1", "app.crash", data)]))
        mock_names(mock)
        v2 = run(env, "crashes", "--source", "v2", "-o", fmt)
        v3 = run(env, "crashes", "--source", "v3", "-o", fmt)
    assert v2.exit_code == v3.exit_code == 0, v2.stderr + v3.stderr
    assert v2.stdout == v3.stdout and v3.stdout.strip() not in ("", "[]")
