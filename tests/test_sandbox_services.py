"""The sandbox's service usage events: CC's parameters and errors, the simulation, its truth."""

from __future__ import annotations

from datetime import timedelta

import requests
from conftest import END

from cfevents.sandbox.services import MANAGED, USER_PROVIDED

PATH = "/v3/service_usage_events"


def get(sb, path, **params):
    return requests.get(sb.url + path, params=params, headers={"Authorization": sb.admin_token()})


def all_events(sb, **params):
    return get(sb, PATH, per_page="5000", **params).json()["resources"]


def detail(reply):
    assert reply.status_code == 422, reply.text
    return reply.json()["errors"][0]["detail"]


def test_shape_and_emission_rules(sandbox):
    events = all_events(sandbox)
    states = {e["state"] for e in events}
    assert states == {"CREATED", "UPDATED", "DELETED"}
    sim = sandbox.foundation.services
    # a failed provision still has its CREATED and is still listed until deleted
    failed = [i for i in sim.instances if i.failed]
    assert failed
    for e in events:
        assert e["updated_at"] == e["created_at"]
        kind = e["service_instance"]["type"]
        assert kind in (MANAGED, USER_PROVIDED)
        if kind == USER_PROVIDED:
            for key in ("service_plan", "service_offering", "service_broker"):
                assert e[key] == {"guid": None, "name": None}  # as CC sends them
        else:
            assert e["service_plan"]["guid"] and e["service_offering"]["name"]
    # UPDATED only on plan or name change: consecutive events of an instance differ in one
    last = {}
    for e in events:
        key = e["service_instance"]["guid"]
        if e["state"] == "UPDATED" and key in last:
            before = last[key]
            assert (before["service_plan"], before["service_instance"]["name"]) != (
                e["service_plan"],
                e["service_instance"]["name"],
            )
        last[key] = e


def test_parameters_and_errors_as_cc(sandbox):
    events = all_events(sandbox)
    assert get(sandbox, PATH + "/" + events[3]["guid"]).json()["guid"] == events[3]["guid"]
    assert get(sandbox, PATH + "/nope").status_code == 404
    after = all_events(sandbox, after_guid=events[9]["guid"])
    assert after == events[10:]
    assert detail(get(sandbox, PATH, after_guid="nope")) == (
        "After guid filter must be a valid service usage event guid."
    )
    assert "Filtering by 'updated_ats' is not allowed" in detail(
        get(sandbox, PATH, **{"updated_ats[gt]": "2020-01-01T00:00:00Z"})
    )
    text = detail(get(sandbox, PATH, foo="1"))
    assert text.startswith("Unknown query parameter(s): 'foo'. Valid parameters are: 'page'")
    assert "'service_instance_types', 'service_offering_guids'" in text
    assert detail(get(sandbox, PATH, per_page="5001")) == "Per page must be between 1 and 5000"
    assert detail(get(sandbox, PATH, order_by="id")) == "Order by can only be: 'created_at'"
    ups = all_events(sandbox, service_instance_types=USER_PROVIDED)
    assert ups and all(e["service_instance"]["type"] == USER_PROVIDED for e in ups)
    offering = events[0]["service_offering"] or events[1]["service_offering"]
    mine = all_events(sandbox, service_offering_guids=offering["guid"])
    assert mine == [
        e for e in events if (e["service_offering"] or {}).get("guid") == offering["guid"]
    ]
    mid = events[len(events) // 2]["created_at"]
    later = all_events(sandbox, **{"created_ats[gte]": mid})
    assert later == [e for e in events if e["created_at"] >= mid]
    assert all_events(sandbox, guids=events[5]["guid"]) == [events[5]]
    desc = all_events(sandbox, order_by="-created_at")
    assert [e["created_at"] for e in desc] == sorted(
        (e["created_at"] for e in events), reverse=True
    )


def test_service_instances_match_the_simulation(sandbox):
    listed = get(sandbox, "/v3/service_instances", per_page="5000").json()["resources"]
    sim = sandbox.foundation.services
    assert {i["guid"] for i in listed} == {i.guid for i in sim.live()}
    events = all_events(sandbox)
    last = {e["service_instance"]["guid"]: e for e in events}
    for item in listed:
        e = last.get(item["guid"])
        if e is not None:
            assert e["state"] != "DELETED"
            assert e["service_instance"]["name"] == item["name"]
            plan = item["relationships"].get("service_plan")
            assert (plan["data"]["guid"] if plan else None) == (e["service_plan"] or {}).get("guid")
    failed = [i for i in listed if i["last_operation"]["state"] == "failed"]
    assert all(i["type"] == "managed" for i in failed)


def test_truth_from_the_timeline(sandbox):
    start = END - timedelta(days=30)
    truth = sandbox.service_truth(start, END)
    sim = sandbox.foundation.services
    assert len(truth) >= len(sim.live())
    for usage in truth.values():
        assert 0 < usage.total_seconds <= 30 * 86400
        if usage.service_instance_type == USER_PROVIDED:
            assert list(usage.seconds) == [None]
    # a window split in two adds up exactly
    mid = start + timedelta(days=11, seconds=7)
    a, b = sandbox.service_truth(start, mid), sandbox.service_truth(mid, END)
    for guid, usage in truth.items():
        for plan, seconds in usage.seconds.items():
            left = a[guid].seconds.get(plan, 0) if guid in a else 0
            right = b[guid].seconds.get(plan, 0) if guid in b else 0
            assert left + right == seconds


def test_purge_and_reseed(fresh_sandbox):
    sb = fresh_sandbox
    before = all_events(sb)
    live = {i.guid for i in sb.foundation.services.live()}
    reply = requests.post(
        sb.url + PATH + "/actions/destructively_purge_all_and_reseed",
        headers={"Authorization": sb.admin_token()},
    )
    assert reply.status_code == 200 and reply.json() == {}
    after = all_events(sb)
    assert {e["guid"] for e in after} == live
    assert all(
        e["guid"] == e["service_instance"]["guid"] and e["state"] == "CREATED" for e in after
    )
    assert len({e["created_at"] for e in after}) == 1
    assert detail(get(sb, PATH, after_guid=before[-1]["guid"])).startswith("After guid filter")
    denied = requests.post(
        sb.url + PATH + "/actions/destructively_purge_all_and_reseed",
        headers={"Authorization": sb.token(["cloud_controller.global_auditor"])},
    )
    assert denied.status_code == 403


def test_live_actions_and_separate_stream(fresh_sandbox):
    sb = fresh_sandbox
    n = len(all_events(sb))
    target = next(i for i in sb.foundation.services.live() if i.type == MANAGED)
    sb.service_action("update_parameters", target.guid)
    assert len(all_events(sb)) == n  # no event for a parameter update
    sb.service_action("rename", target.guid)
    sb.service_action("delete", target.guid)
    tail = all_events(sb)[n:]
    assert [e["state"] for e in tail] == ["UPDATED", "DELETED"]
    assert all(e["service_instance"]["guid"] == target.guid for e in tail)
