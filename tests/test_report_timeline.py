"""The report against a simulated timeline: the truth comes from the simulation's own segments,
never from a second reading of the events. Covers daily exactness and state-file chaining."""

import itertools
import random
from datetime import UTC, datetime

import pytest
from report_helpers import FakeSource, Snapshot, Window

from cfevents.report import usage_report, write_state
from cfevents.report.timeutil import DAY, epoch, iso

START = epoch("2024-04-28T00:00:00Z")
STOP = epoch("2024-05-06T00:00:00Z")
NOW = datetime.fromtimestamp(STOP + 3600, UTC)


def day(text):
    return datetime.fromtimestamp(epoch(text + "T00:00:00Z"), UTC)


class Timeline:
    """Processes and tasks over time; every change is written as CC writes its events."""

    def __init__(self, seed, processes=6, tasks=12):
        self.rng = random.Random(seed)
        self.events = []
        self.segments = {}  # process guid -> [(a, b, n, m)]
        self.task_segments = {}  # app guid -> [(a, b, m)]
        self.procs = {}
        self.open_tasks = {}
        for i in range(processes):
            guid = f"P{i}"
            running = i % 3 != 2  # two thirds run from the start, with no event for days
            self.procs[guid] = {
                "app": f"A{i % 3}",
                "running": running,
                "n": i % 4,  # includes 0-instance processes
                "m": 256 * (1 + i % 3),
                "since": START,
            }
            self.segments[guid] = []
        t = START + 3600
        while t < STOP:
            self.step(t)
            t += self.rng.randint(1, 9) * 900 + self.rng.randint(0, 59)
        self.tasks_plan(tasks)

    def emit(self, t, guid, state, prev_state, prev, cur):
        p = self.procs[guid]
        self.events.append(
            {
                "guid": f"e{len(self.events)}",
                "created_at": iso(t),
                "state": {"current": state, "previous": prev_state},
                "app": {"guid": p["app"], "name": f"app-{p['app']}"},
                "process": {"guid": guid, "type": "web"},
                "space": {"guid": "S", "name": "space-S"},
                "organization": {"guid": "O"},
                "task": {"guid": None, "name": None},
                "instance_count": {"previous": prev[0], "current": cur[0]},
                "memory_in_mb_per_instance": {"previous": prev[1], "current": cur[1]},
            }
        )

    def close(self, guid, t):
        p = self.procs[guid]
        if p["running"] and t > p["since"]:
            self.segments[guid].append((p["since"], t, p["n"], p["m"]))
        p["since"] = t

    def step(self, t):
        guid = self.rng.choice(sorted(self.procs))
        p = self.procs[guid]
        old = (p["n"], p["m"])
        action = self.rng.choice(["toggle", "scale", "memory", "restart", "stopped-scale"])
        if action == "toggle" or (not p["running"] and action != "stopped-scale"):
            self.close(guid, t)
            if p["running"]:
                p["running"] = False
                self.emit(t, guid, "STOPPED", "STARTED", old, old)
            else:
                p["running"] = True
                self.emit(t, guid, "STARTED", "STOPPED", old, old)
        elif action == "stopped-scale" and not p["running"]:
            p["n"] = self.rng.randint(0, 4)  # silent: CC writes nothing
        elif action in ("scale", "memory", "stopped-scale"):
            self.close(guid, t)
            if action == "memory":
                p["m"] = self.rng.choice([128, 256, 512, 1024])
            else:
                p["n"] = self.rng.randint(0, 5)
            self.emit(t, guid, "STARTED", "STARTED", old, (p["n"], p["m"]))
        else:  # restart: STOPPED then STARTED in one second, the same values
            self.emit(t, guid, "STOPPED", "STARTED", old, old)
            self.emit(t, guid, "STARTED", "STOPPED", old, old)

    def tasks_plan(self, count):
        runs = []
        for i in range(count):
            a = self.rng.randint(START + 600, STOP - 600)
            length = self.rng.randint(60, 3 * DAY)
            runs.append((a, "TASK_STARTED", i, length))
            if a + length < STOP:
                runs.append((a + length, "TASK_STOPPED", i, length))
        merged = sorted([*(self._key(e) for e in self.events), *runs], key=lambda r: r[0])
        events = []
        mem = {i: 128 * (1 + i % 4) for i in range(count)}
        for r in merged:
            if len(r) == 2:
                events.append(r[1])
                continue
            t, state, i, length = r
            app = f"A{i % 3}"
            events.append(
                {
                    "guid": f"t{i}-{state}",
                    "created_at": iso(t),
                    "state": {
                        "current": state,
                        "previous": "PENDING" if state == "TASK_STARTED" else "RUNNING",
                    },
                    "app": {"guid": app, "name": f"app-{app}"},
                    "process": {"guid": None, "type": None},
                    "space": {"guid": "S", "name": "space-S"},
                    "organization": {"guid": "O"},
                    "task": {"guid": f"T{i}", "name": f"task-{i}"},
                    "instance_count": {"previous": 1, "current": 1},
                    "memory_in_mb_per_instance": {"previous": mem[i], "current": mem[i]},
                }
            )
            if state == "TASK_STARTED":
                self.task_segments.setdefault(app, []).append(
                    (t, min(t + length, STOP + 3600), mem[i])
                )
                if t + length >= STOP:
                    self.open_tasks[f"T{i}"] = (app, mem[i])
        self.events = events

    @staticmethod
    def _key(event):
        return (epoch(event["created_at"]), event)

    def snapshot(self):
        apps = sorted({p["app"] for p in self.procs.values()})
        return Snapshot(
            apps=[
                {
                    "guid": a,
                    "name": f"app-{a}",
                    "state": "STARTED",
                    "relationships": {"space": {"data": {"guid": "S"}}},
                }
                for a in apps
            ],
            processes=[
                {
                    "guid": g,
                    "type": "web",
                    "instances": p["n"] if p["running"] else 0,
                    "memory_in_mb": p["m"],
                    "relationships": {"app": {"data": {"guid": p["app"]}}},
                }
                for g, p in self.procs.items()
                if p["running"]
            ],
            tasks=[
                {
                    "guid": g,
                    "state": "RUNNING",
                    "memory_in_mb": m,
                    "relationships": {"app": {"data": {"guid": a}}},
                }
                for g, (a, m) in self.open_tasks.items()
            ],
            spaces=[
                {
                    "guid": "S",
                    "name": "space-S",
                    "relationships": {"organization": {"data": {"guid": "O"}}},
                }
            ],
        )

    def truth(self, t0, t1):
        """Exact (instance_seconds, memory_mb_seconds) per process, task seconds per app."""
        out = {}
        for guid, segs in self.segments.items():
            segs = [*segs]
            p = self.procs[guid]
            if p["running"]:
                segs.append((p["since"], STOP + 3600, p["n"], p["m"]))
            inst = mem = 0
            for a, b, n, m in segs:
                o = max(0, min(b, t1) - max(a, t0))
                inst += n * o
                mem += n * m * o
            out[guid] = (inst, mem)
        tasks = {}
        for app, segs in self.task_segments.items():
            tasks[app] = sum(max(0, min(b, t1) - max(a, t0)) for a, b, _m in segs)
        return out, tasks


def source(timeline):
    # the snapshot shows stopped processes of a started app as 0 instances only when running;
    # stopped ones are listed with their app STOPPED-equivalent: absent from the started set
    return FakeSource(timeline.events, timeline.snapshot(), oldest=timeline.events[0]["created_at"])


def by_process(rep):
    return {
        r["process_guid"]: (r["instance_seconds"], r["memory_mb_seconds"])
        for r in rep.rows
        if r["process_guid"] is not None
    }


def assert_truth(rep, timeline, t0, t1):
    truth, tasks = timeline.truth(epoch(t0), epoch(t1))
    got = by_process(rep)
    for guid, figures in truth.items():
        assert got.get(guid, (0, 0)) == figures, guid
    got_tasks = {}
    for r in rep.rows:
        got_tasks[r["app_guid"]] = got_tasks.get(r["app_guid"], 0) + r["task_seconds"]
    for app, seconds in tasks.items():
        assert got_tasks.get(app, 0) == seconds, app


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_snapshot_report_equals_the_timeline(seed):
    timeline = Timeline(seed)
    window = Window(day("2024-05-01"), day("2024-05-04"))
    rep = usage_report(source(timeline), window, by="process", now=NOW)
    assert_truth(rep, timeline, "2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z")
    assert rep.meta["self_check_mismatches"] == []
    assert rep.meta["chain_gaps"] == []


@pytest.mark.parametrize("seed", [4, 5])
def test_daily_rows_sum_exactly_to_the_window(seed):
    timeline = Timeline(seed)
    window = Window(datetime.fromtimestamp(epoch("2024-05-01T07:13:00Z"), UTC), day("2024-05-05"))
    flat = usage_report(source(timeline), window, by="app", now=NOW)
    daily = usage_report(source(timeline), window, by="app", daily=True, now=NOW)
    keys = (
        "instance_seconds",
        "memory_mb_seconds",
        "running_seconds",
        "task_seconds",
        "task_memory_mb_seconds",
        "starts",
        "stops",
        "scales",
        "task_runs",
    )
    for r in flat.rows:
        days = [d for d in daily.rows if d["app_guid"] == r["app_guid"]]
        assert {d["day"] for d in days} <= {"2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"}
        for key in keys:
            assert sum(d[key] for d in days) == r[key], key
        assert max(d["max_instances"] for d in days) == r["max_instances"]
    assert daily.totals["instance_seconds"] == flat.totals["instance_seconds"]
    assert sum(d["running_seconds"] for d in daily.rows) == flat.totals["running_seconds"]


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_chained_state_file_equals_a_direct_report(seed, tmp_path):
    timeline = Timeline(seed)
    first = Window(day("2024-05-01"), day("2024-05-03"))
    second = Window(day("2024-05-03"), day("2024-05-05"))
    a = usage_report(source(timeline), first, by="process", now=NOW)
    path = tmp_path / "state-2024-05-03.json"
    write_state(path, a.closing_state)
    chained = usage_report(source(timeline), second, by="process", opening=path, now=NOW)
    direct = usage_report(source(timeline), second, by="process", now=NOW)
    both = usage_report(
        source(timeline), Window(first.start, second.end), by="process", daily=True, now=NOW
    )
    assert chained.meta["opening_source"] == "file"
    assert by_process(chained) == by_process(direct)
    assert_truth(chained, timeline, "2024-05-03T00:00:00Z", "2024-05-05T00:00:00Z")
    second_half = {}
    for r in both.rows:
        if r["process_guid"] and r["day"] >= "2024-05-03":
            s = second_half.setdefault(r["process_guid"], [0, 0])
            s[0] += r["instance_seconds"]
            s[1] += r["memory_mb_seconds"]
    assert {g: tuple(v) for g, v in second_half.items() if v != [0, 0]} == {
        g: v for g, v in by_process(chained).items() if v != (0, 0)
    }

    def tasks(rep):
        return sorted((r["app_guid"], r["task_seconds"]) for r in rep.rows if r["task_seconds"])

    assert tasks(chained) == tasks(direct)


def true_peaks(timeline, t0, t1, daily):
    """Per (app, day): the most instances at any instant of [t0, t1), from the segments."""
    segs = []
    for guid, own in timeline.segments.items():
        p = timeline.procs[guid]
        own = [*own]
        if p["running"]:
            own.append((p["since"], STOP + 3600, p["n"], p["m"]))
        segs.extend((p["app"], a, b, n) for a, b, n, _m in own)
    points = {t0} | {x for _app, a, b, _n in segs for x in (a, b) if t0 <= x < t1}
    points |= {d * DAY for d in range(t0 // DAY + 1, (t1 - 1) // DAY + 1)}
    peaks = {}
    for tau in points:
        key_day = iso(tau // DAY * DAY)[:10] if daily else None
        levels = {}
        for app, a, b, n in segs:
            if a <= tau < b:
                levels[app] = levels.get(app, 0) + n
        for app, level in levels.items():
            peaks[(app, key_day)] = max(peaks.get((app, key_day), 0), level)
    return peaks


@pytest.mark.parametrize(("seed", "daily"), [(9, False), (10, True), (11, True)])
def test_peaks_equal_the_timeline(seed, daily):
    timeline = Timeline(seed)
    t0, t1 = "2024-05-01T05:00:00Z", "2024-05-04T00:00:00Z"
    window = Window(datetime.fromtimestamp(epoch(t0), UTC), day("2024-05-04"))
    rep = usage_report(source(timeline), window, by="app", daily=daily, now=NOW)
    truth = true_peaks(timeline, epoch(t0), epoch(t1), daily)
    got = {(r["app_guid"], r.get("day")): r["max_instances"] for r in rep.rows}
    for key, level in truth.items():
        if level:
            assert got.get(key) == level, key
    for key, level in got.items():
        assert truth.get(key, 0) == level, key


@pytest.mark.parametrize("seed", [12, 13])
def test_state_files_chain_over_three_windows(seed, tmp_path):
    timeline = Timeline(seed)
    days = ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-05"]
    opening = "snapshot"
    for start, end in itertools.pairwise(days):
        window = Window(day(start), day(end))
        rep = usage_report(source(timeline), window, by="process", opening=opening, now=NOW)
        assert_truth(rep, timeline, f"{start}T00:00:00Z", f"{end}T00:00:00Z")
        opening = tmp_path / f"state-{end}.json"
        write_state(opening, rep.closing_state)
    assert rep.meta["opening_source"] == "file"
