"""CloudControllerSource over a fake ``get_json`` (no HTTP): what it asks CC for, and paging."""

from report_helpers import WINDOW, dt, ev

from cfevents.report import usage_report
from cfevents.report.ccsource import CloudControllerSource


class FakeGetter:
    """Answers like CC for the few lists the source reads; records every request."""

    def __init__(self, events, processes=(), orgs=None):
        self.events = events
        self.processes = list(processes)
        self.orgs = orgs or {"O": "org-one"}
        self.requests = []

    def get_json(self, target, params=None):
        params = dict(params or [])
        self.requests.append((target, params))
        if target == "/v3/app_usage_events":
            rows = [e for e in self.events if e["created_at"] >= params.get("created_ats[gte]", "")]
            if "after_guid" in params:
                at = [e["guid"] for e in rows].index(params["after_guid"])
                rows = rows[at + 1 :]
            size = int(params["per_page"])
            page = rows[:size]
            more = len(rows) > size
            return {"pagination": {"next": {"href": "x"} if more else None}, "resources": page}
        if target == "/v3/apps":
            return {
                "pagination": {"next": None},
                "resources": [
                    {
                        "guid": "A",
                        "name": "app-A",
                        "state": "STARTED",
                        "relationships": {"space": {"data": {"guid": "S"}}},
                    }
                ],
            }
        if target == "/v3/processes":
            if "page2" not in params:
                return {
                    "pagination": {"next": {"href": "/v3/processes?page2=1"}},
                    "resources": self.processes[:1],
                }
            return {"pagination": {"next": None}, "resources": self.processes[1:]}
        if target == "/v3/processes?page2=1":
            return {"pagination": {"next": None}, "resources": self.processes[1:]}
        if target == "/v3/spaces":
            space = {"guid": "S", "name": "space-S"}
            space["relationships"] = {"organization": {"data": {"guid": "O"}}}
            return {"pagination": {"next": None}, "resources": [space]}
        if target == "/v3/organizations":
            wanted = params["guids"].split(",")
            return {
                "pagination": {"next": None},
                "resources": [{"guid": g, "name": self.orgs[g]} for g in wanted if g in self.orgs],
            }
        return {"pagination": {"next": None}, "resources": []}


def proc(guid, n):
    return {
        "guid": guid,
        "type": "web",
        "instances": n,
        "memory_in_mb": 256,
        "relationships": {"app": {"data": {"guid": "A"}}},
    }


def test_source_reads_snapshot_events_and_org_names(monkeypatch):
    monkeypatch.setattr("cfevents.report.ccsource.PER_PAGE", 2)
    events = [ev("2024-04-20T00:00Z", "X", "STARTED", "STOPPED", (1, 1))]
    events += [
        ev(f"{h:02d}:00", "P1", "STARTED", "STARTED", (h % 2 + 1, (h + 1) % 2 + 1), (256, 256))
        for h in range(1, 6)
    ]
    getter = FakeGetter(events, [proc("P1", 2), proc("P2", 1)])
    source = CloudControllerSource(getter, "https://api.example.com")
    rep = usage_report(source, WINDOW, by="process", now=dt("2024-05-03T00:00:00Z"))
    targets = [t for t, _ in getter.requests]
    assert targets[0] == "/v3/app_usage_events"  # the oldest event, per_page=1
    assert getter.requests[0][1] == {"page": "1", "per_page": "1"}
    assert (
        targets.index("/v3/processes")
        < [i for i, t in enumerate(targets) if t == "/v3/app_usage_events"][1]
    )
    assert ("/v3/tasks", {"states": "RUNNING", "per_page": "2"}) in getter.requests
    event_reads = [p for t, p in getter.requests if t == "/v3/app_usage_events"][1:]
    assert event_reads[0]["created_ats[gte]"] == "2024-04-30T23:45:00Z"
    assert [p.get("after_guid") for p in event_reads][1:] == [events[2]["guid"], events[4]["guid"]]
    assert rep.meta["events_read"] == 5
    assert row_of(rep, "P2")["instance_seconds"] == 86400  # from the second snapshot page
    # P1 ran 2 instances until 01:00 (inferred), then alternated 1/2 each hour, ending at 1 after 05:00
    assert (
        row_of(rep, "P1")["instance_seconds"] == 2 * 3600 + (1 + 2 + 1 + 2) * 3600 + 1 * 19 * 3600
    )
    assert row_of(rep, "P1")["org_name"] == "org-one"


def test_events_reader_can_be_injected():
    seen = []

    def events(start):
        seen.append(start)
        return iter([])

    source = CloudControllerSource(FakeGetter([]), "https://api.example.com", events=events)
    usage_report(source, WINDOW, opening="none", now=dt("2024-05-03T00:00:00Z"))
    assert seen == [dt("2024-04-30T23:45:00Z")]


def row_of(rep, guid):
    (found,) = [r for r in rep.rows if r["process_guid"] == guid]
    return found
