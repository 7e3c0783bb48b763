"""What the report engine keeps of every stopped process and ended task: packed guid records
(``cfevents/report/guidtable.py``), a few dozen bytes each, with exactly the accounting of a
plain dict (issue 23: `usage report`'s peak RSS from 10k to 1M events)."""

import random
import tracemalloc
import uuid

import pytest
from report_helpers import ev

from cfevents.report import Accountant
from cfevents.report import guidtable as gt
from cfevents.report.guidtable import GuidTable, guid_bits, guid_text
from cfevents.report.rows import build_rows
from cfevents.report.timeutil import epoch, iso

T0 = epoch("2024-05-01T00:00:00Z")


def _guid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# --- the table ---------------------------------------------------------------------------


def test_guid_bits_take_only_canonical_guids_and_invert_exactly():
    rng = random.Random(1)
    for _ in range(200):
        guid = _guid(rng)
        assert guid_text(guid_bits(guid)) == guid
    assert guid_text(0) == "00000000-0000-0000-0000-000000000000"
    for other in (
        "app:web",
        "7153A3C9-BED5-40EA-B756-C4B8832EC364",  # upper case: kept as given, never rewritten
        "{7153a3c9-bed5-40ea-b756-c4b8832ec364}",
        "7153a3c9bed540eab756c4b8832ec364",
        "7153a3c9-bed5-40ea-b756-c4b8832ec36_",
        "7153a3c9-bed5-40ea-b756-c4b8832ec364\n",
        " 7153a3c9-bed5-40ea-b756-c4b8832ec36",
        "",
    ):
        assert guid_bits(other) is None, other


@pytest.mark.parametrize("buckets", [1, 3, 1021])
def test_the_table_behaves_as_a_dict_for_every_key_and_record(monkeypatch, buckets):
    monkeypatch.setattr(gt, "BUCKETS", buckets)
    rng = random.Random(buckets)
    keys = [_guid(rng) for _ in range(30)]
    keys += [str(uuid.UUID(int=i << 64 | 7)) for i in range(5)]  # all but a few bits equal
    keys += ["app:web", "X" * 36, keys[0].upper(), 7]
    records = [(0, 0), (2**32 - 1, 5), (None, 3), (-1, 2), (2**32, 0), (True, 1), (1,), (1, 2, 3)]
    for _round in range(20):
        table, plain = GuidTable(2), {}
        for step in range(300):
            key, op = rng.choice(keys), rng.random()
            if op < 0.5:
                record = rng.choice([*records, (rng.randrange(2**32), rng.randrange(99))])
                table[key] = plain[key] = record
            elif op < 0.7:
                assert table.pop(key, None) == plain.pop(key, None)
            elif op < 0.8:
                assert (key in table) == (key in plain)
            else:
                got = table.get(key)
                assert got == plain.get(key) and type(got) is type(plain.get(key))
                if got is not None:
                    assert [type(v) for v in got] == [type(v) for v in plain[key]]
            if step % 50 == 49:
                assert len(table) == len(plain)
                assert sorted(map(str, table)) == sorted(map(str, plain))
                assert {k: table[k] for k in table} == plain
        for missing in ("absent", _guid(rng)):
            with pytest.raises(KeyError):
                table[missing]
            with pytest.raises(KeyError):
                table.pop(missing)
            with pytest.raises(KeyError):
                del table[missing]
        for key in list(plain):
            assert table.pop(key) == plain.pop(key)
        assert len(table) == 0 and list(table) == []


def test_no_guid_is_found_across_two_records(monkeypatch):
    # one bucket, records of 16 + 4 bytes: a guid made of the tail of one record and the
    # head of the next is in the bytes, but is no record
    monkeypatch.setattr(gt, "BUCKETS", 1)
    table = GuidTable(1)
    a, b = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-aaaaaaaaaaaa"
    table[a] = (0xBBBBBBBB,)
    table[b] = (0xCCCCCCCC,)
    straddling = guid_text(int.from_bytes(bytes.fromhex("4444555555555555bbbbbbbb66666666"), "big"))
    assert straddling not in table and table.get(straddling) is None
    assert table.pop(straddling, None) is None
    table[straddling] = (1,)
    assert (table[a], table[b], table[straddling]) == ((0xBBBBBBBB,), (0xCCCCCCCC,), (1,))
    assert len(table) == 3


# --- the engine ---------------------------------------------------------------------------


def _event(t, state, prev, app, *, proc=None, task=None, n=2, mem=256):
    """report_helpers.ev at epoch second ``t``, its guid unique per subject and state."""
    guid = f"ev-{state}-{t}-{proc or task}"
    return ev(iso(t), proc, state, prev, (n, n), (mem, mem), app=app, task=task, guid=guid)


def _churn(count, apps, name):
    """``count`` processes and ``count`` tasks (guids from ``name(i)``), each living a minute;
    every 10th process starts again later (from the stopped records), every 10th ended task
    gets a duplicate TASK_STOPPED, and every 10th stopped process a row stamped in its past
    (clock skew: its last time must be remembered)."""
    for i in range(count):
        t, app = T0 + 2 * i, f"app-{i % apps}"
        proc, task = name("p", i), name("t", i)
        yield _event(t, "STARTED", "STOPPED", app, proc=proc)
        yield _event(t, "TASK_STARTED", None, app, task=task, n=1, mem=128)
        yield _event(t + 30, "TASK_STOPPED", "RUNNING", app, task=task, n=1, mem=128)
        yield _event(t + 60, "STOPPED", "STARTED", app, proc=proc)
        if i % 10 == 0 and i >= 100:
            old, old_app = name("p", i - 100), f"app-{(i - 100) % apps}"
            yield _event(t + 1, "STARTED", "STOPPED", old_app, proc=old)
            yield _event(t + 11, "STOPPED", "STARTED", old_app, proc=old)
            yield _event(t + 11, "TASK_STOPPED", "RUNNING", old_app, task=name("t", i - 100), n=1)
        if i % 10 == 5 and i >= 100:
            old, old_app = name("p", i - 50), f"app-{(i - 50) % apps}"
            yield _event(t - 500, "STOPPED", "STOPPED", old_app, proc=old)  # skewed, duplicate


def _uuids(seed):
    """guids as Cloud Controller's: a new str for each event, as the json decoder makes."""
    rng, made = random.Random(seed), {}

    def name(kind, i):
        if (kind, i) not in made:
            made[kind, i] = uuid.UUID(int=rng.getrandbits(128), version=4).int
        return guid_text(made[kind, i])

    return name


def _run(count, apps, name):
    engine = Accountant(T0, T0 + 86400, mode="events", by="app")
    engine.feed_all(_churn(count, apps, name))
    return engine


def test_each_stopped_process_and_ended_task_is_kept_in_a_few_dozen_bytes():
    # 10,000 stopped processes and 10,000 ended tasks with Cloud Controller's guids; before,
    # each was a dict entry keyed by its 36-character str with a tuple of ints (~200 B,
    # 4 MB here, most of the `usage report` RSS growth from 10k to 1M events)
    count = 10_000
    name = _uuids(7)
    for i in range(count):  # their numbers are drawn before the run
        name("p", i), name("t", i)
    tracemalloc.start()
    engine = _run(count, 10, name)
    kept, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(engine.dead) == len(engine.ended_tasks) == count
    per_record = kept / (2 * count)
    assert per_record < 64, f"{per_record:.0f} B per stopped process / ended task"


def test_packed_records_account_exactly_as_plain_ones():
    # the same history keyed by guids the table packs and by ids it keeps as given (upper
    # case): the same rows, counters, flags and final states, to the byte
    count, apps = 2_000, 7
    packed_name = _uuids(3)
    plain_name = lambda kind, i: packed_name(kind, i).upper()  # noqa: E731
    packed, plain = _run(count, apps, packed_name), _run(count, apps, plain_name)
    assert len(packed.dead._odd) == len(packed.ended_tasks._odd) == 0
    assert len(plain.dead._odd) == len(plain.ended_tasks._odd) == count
    a, b = packed.finish(), plain.finish()
    rows_a = build_rows(a, by="app", daily=False, t0=T0, end=T0 + 86400, org_names={})
    rows_b = build_rows(b, by="app", daily=False, t0=T0, end=T0 + 86400, org_names={})
    assert rows_a == rows_b and len(rows_a) == apps
    assert a.counters == b.counters and a.counters["clock_skew_adjustments"] > 0
    assert a.flag_counts == b.flag_counts and a.flag_counts
    assert {g.upper(): s for g, s in a.final_processes.items()} == dict(b.final_processes)
    assert len(a.final_processes) == count
    # and the figures are those of a straightforward computation
    restarts = sum(1 for i in range(count) if i % 10 == 0 and i >= 100)
    assert sum(r["instance_seconds"] for r in rows_a) == count * 2 * 60 + restarts * 2 * 10
    assert sum(r["task_runs"] for r in rows_a) == count
    assert sum(r["task_seconds"] for r in rows_a) == count * 30
