"""Deterministic generator of a simulated Cloud Foundry foundation.

Given a seed and an end time, `Foundation.generate` builds orgs, spaces, apps,
a month of app usage events (simulated per app: pushes, starts, scales,
restarts, tasks, ...) and the audit `events` table (crash pairs written exactly
as Cloud Controller writes them, plus user actions). The same seed and end give
byte-identical data.
"""

from __future__ import annotations

import hashlib
import random
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cfevents.sandbox.audit import DAY_US, AuditEvent, AuditWriter, Crash
from cfevents.sandbox.simulation import AppState, Simulator
from cfevents.sandbox.store import (
    NULL,
    SECOND_US,
    STATE_INDEX,
    AppRef,
    UsageEventStore,
    to_us,
    uuid_from_digest,
)

ORG_NAMES = ("acme", "globex", "initech")
APP_NAMES = (
    "api",
    "web",
    "worker",
    "billing",
    "checkout",
    "search",
    "auth",
    "reports",
    "notifier",
    "gateway",
)
SYSTEM_BUILDPACKS = (
    "nodejs_buildpack",
    "java_buildpack",
    "python_buildpack",
    "go_buildpack",
    "ruby_buildpack",
)
#: A custom buildpack URL as CC stores it: credentials already obfuscated.
CUSTOM_BUILDPACK = "https://***:***@buildpacks.example.com/custom-buildpack.git"


@dataclass(frozen=True, slots=True)
class Org:
    """An organization."""

    guid: str
    name: str
    quota_guid: str
    created_at_us: int


@dataclass(frozen=True, slots=True)
class Space:
    """A space in an org."""

    guid: str
    name: str
    org_guid: str
    created_at_us: int


@dataclass(frozen=True, slots=True)
class App:
    """An app; `processes` is a tuple of (process guid, process type)."""

    guid: str
    name: str
    space_guid: str
    org_guid: str
    processes: tuple[tuple[str, str], ...]
    lifecycle: str
    buildpack: str | None
    droplet_guid: str
    created_at_us: int


class Foundation:
    """The generated data, and the mutations the sandbox supports (appends, purge, prune).

    All reads and writes of usage events must hold `lock`.
    """

    def __init__(self, seed: int, end: datetime, days: int) -> None:
        self.seed = seed
        self.end = end
        self.days = days
        self.end_us = to_us(end)
        self.start_us = self.end_us - days * DAY_US
        self.key = hashlib.blake2b(b"cfevents-sandbox:%d" % seed, digest_size=32).digest()
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.base_url = "http://sandbox.invalid"
        self.orgs: list[Org] = []
        self.spaces: list[Space] = []
        self.apps: list[App] = []
        self.buildpacks: list[tuple[str | None, str | None]] = []
        self.audit_events: list[AuditEvent] = []
        self._crashes: list[Crash] = []
        self.store = UsageEventStore(self.key, [], [])
        self.simulator = Simulator(self.rng, self.store, [])

    @classmethod
    def generate(
        cls, seed: int, end: datetime, days: int = 30, usage_events: int | None = None
    ) -> Foundation:
        """Build a foundation; `usage_events=None` means the natural simulated volume."""
        foundation = cls(seed, end, days)
        foundation._build_resources()
        count = usage_events if usage_events is not None else int(days * len(foundation.apps) * 3.5)
        foundation._build_usage_events(count)
        writer = AuditWriter(
            foundation.rng,
            foundation.uuid,
            (foundation.orgs, foundation.spaces, foundation.apps),
            (foundation.start_us, foundation.end_us),
        )
        foundation.audit_events, foundation._crashes = writer.write()
        return foundation

    # -- generation ------------------------------------------------------------

    def uuid(self, *parts: object) -> str:
        """A deterministic UUID for a named thing."""
        text = "/".join(map(str, parts)).encode()
        return uuid_from_digest(hashlib.blake2b(text, key=self.key, digest_size=16).digest())

    def _build_resources(self) -> None:
        rng = self.rng
        self.buildpacks = [(None, None), (None, CUSTOM_BUILDPACK)]
        for name in SYSTEM_BUILDPACKS:
            self.buildpacks += [(self.uuid("buildpack", name), name), (None, name)]
        born = self.start_us - 400 * DAY_US
        for o, org_name in enumerate(ORG_NAMES):
            org = Org(
                self.uuid("org", org_name),
                org_name,
                self.uuid("quota", "default"),
                born + o * DAY_US,
            )
            self.orgs.append(org)
            for space_name in ("prod", "staging", "dev") if o == 0 else ("prod", "staging"):
                space = Space(
                    self.uuid("space", org_name, space_name),
                    space_name,
                    org.guid,
                    org.created_at_us + DAY_US,
                )
                self.spaces.append(space)
                names = ["api"] if space_name == "prod" else []
                names += rng.sample(
                    [n for n in APP_NAMES if n not in names], rng.randint(3, 5) - len(names)
                )
                for app_name in names:
                    self._add_app(org, space, app_name)
        staging = next(s.guid for s in self.spaces if s.name == "staging")
        beta = next(i for i, a in enumerate(self.apps) if a.space_guid == staging)
        self.apps[beta] = _renamed(self.apps[beta], "[beta]-search")
        self.store.apps = [self._app_ref(a) for a in self.apps]
        self.store.buildpacks = self.buildpacks

    def _add_app(self, org: Org, space: Space, name: str) -> None:
        rng = self.rng
        guid = self.uuid("app", org.name, space.name, name)
        processes = [(guid, "web")]  # the web process shares its app's guid, as in v3
        if name == "worker" or rng.random() < 0.3:
            processes.append((self.uuid("process", guid, "worker"), "worker"))
        kind = rng.random()
        buildpack: str | None = rng.choice(SYSTEM_BUILDPACKS)
        lifecycle = "buildpack"
        if kind < 0.15:
            lifecycle, buildpack = "docker", None
        elif kind < 0.2:
            buildpack = CUSTOM_BUILDPACK
        app = App(
            guid=guid,
            name=name,
            space_guid=space.guid,
            org_guid=org.guid,
            processes=tuple(processes),
            lifecycle=lifecycle,
            buildpack=buildpack,
            droplet_guid=self.uuid("droplet", guid),
            created_at_us=space.created_at_us + rng.randrange(300) * DAY_US,
        )
        self.apps.append(app)

    def _app_ref(self, app: App) -> AppRef:
        space = next(s for s in self.spaces if s.guid == app.space_guid)
        return AppRef(app.guid, app.name, space.guid, space.name, app.org_guid, app.processes)

    def _buildpack_variants(self, app: App) -> tuple[int, int]:
        """Buildpack variant indexes for (staged droplet, staging start) of an app."""
        if app.buildpack is None:
            return 0, 0
        if app.buildpack == CUSTOM_BUILDPACK:
            return 1, 1
        full = self.buildpacks.index((self.uuid("buildpack", app.buildpack), app.buildpack))
        return full, full + 1 if self.rng.random() < 0.5 else 0

    def _build_usage_events(self, count: int) -> None:
        rng = self.rng
        states = []
        for i, app in enumerate(self.apps):
            buildpack, staging = self._buildpack_variants(app)
            new = i > 0 and rng.random() < 0.25
            n = len(app.processes)
            state = AppState(
                index=i,
                processes=n,
                buildpack=buildpack,
                staging_buildpack=staging,
                active_from=int(count * rng.uniform(0.05, 0.8)) if new else 0,
                weight=rng.choice((0.5, 1.0, 1.0, 2.0, 4.0)),
                staged=not new,
                started=not new and rng.random() < 0.9,
                instances=[rng.choice((1, 2, 3, 4)) for _ in range(n)],
                memory=[rng.choice((256, 512, 1024)) for _ in range(n)],
                fresh=new,
            )
            states.append(state)
        self.simulator = Simulator(rng, self.store, states)
        self.simulator.run(count)
        self.store.created.extend(self._timestamps(self.simulator.gaps))
        self.simulator.gaps = array("q")
        self.store.reindex()

    def _timestamps(self, gaps: array[int]) -> array[int]:
        """Lay the bursts out over the window so the newest row is minutes before `end`."""
        newest = (
            self.end_us
            - self.rng.randint(3 * 60, 9 * 60) * SECOND_US
            - self.rng.randrange(SECOND_US)
        )
        intra = sum(g for g in gaps if g > 0)
        weight = -sum(g for g in gaps if g < 0) or 1
        span = newest - self.start_us
        scale = max(span - intra, 0) / weight
        times = array("q", bytes(8 * len(gaps)))
        t = self.start_us
        for i, g in enumerate(gaps):
            t += int(-g * scale) if g < 0 else g
            times[i] = t
        if times:
            shift = newest - times[-1]
            for i in range(len(times)):
                times[i] += shift
        self._invert_some(times)
        return times

    def _invert_some(self, times: array[int]) -> None:
        """Make ~0.5% of rows 1-3 s older than their predecessor (long transactions)."""
        rng = self.rng
        n = len(times)
        for i in rng.sample(range(1, n - 1), min(n - 2, max(0, n // 200))) if n > 2 else ():
            times[i] = times[i - 1] - rng.randint(SECOND_US, 3 * SECOND_US)

    # -- reading (for tests and the server) ------------------------------------

    def usage_event_count(self) -> int:
        """How many usage events are visible."""
        with self.lock:
            return len(self.store)

    def usage_event_id(self, i: int) -> int:
        """The id of the i-th event in id order."""
        with self.lock:
            return self.store.ids[i]

    def usage_event_guid(self, i: int) -> str:
        """The guid of the i-th event in id order."""
        with self.lock:
            return self.store.guid(i)

    def usage_event_created_at_us(self, i: int) -> int:
        """The stored (sub-second) created_at of the i-th event, in µs since the epoch."""
        with self.lock:
            return self.store.created[i]

    def usage_events_v3(self, base_url: str | None = None) -> Iterator[dict[str, Any]]:
        """Every visible usage event as the v3 API renders it, in id order."""
        base = base_url or self.base_url
        with self.lock:
            rendered = [self.store.present_v3(p, base) for p in range(len(self.store))]
        return iter(rendered)

    def usage_events_v2(self) -> Iterator[dict[str, Any]]:
        """Every visible usage event as the v2 API renders it, in id order."""
        with self.lock:
            rendered = [self.store.present_v2(p) for p in range(len(self.store))]
        return iter(rendered)

    def audit_events_v3(self, base_url: str | None = None) -> Iterator[dict[str, Any]]:
        """Every audit event as `/v3/audit_events` renders it, in id order."""
        base = base_url or self.base_url
        return (e.present_v3(base) for e in self.audit_events)

    def audit_events_v2(self) -> Iterator[dict[str, Any]]:
        """Every audit event as `/v2/events` renders it, in id order."""
        return (e.present_v2() for e in self.audit_events)

    def crashes(self) -> list[Crash]:
        """The crashes behind the crash event pairs, oldest first."""
        return list(self._crashes)

    def app_state(self, app_guid: str) -> str:
        """The desired state of an app now: STARTED or STOPPED."""
        i = next(i for i, a in enumerate(self.apps) if a.guid == app_guid)
        with self.lock:
            return "STARTED" if self.simulator.apps[i].started else "STOPPED"

    # -- mutations -------------------------------------------------------------

    def append_usage_events(self, n: int, at_us: int) -> None:
        """Simulate `n` more events, all created at `at_us`, with new ids at the end."""
        with self.lock:
            self.simulator.run(n)
            self.simulator.gaps = array("q")
            self.store.stamp_new_rows(at_us)

    def open_transaction(self, n: int, at_us: int) -> list[tuple[int, ...]]:
        """Simulate `n` events whose ids are taken now but which stay invisible until committed.

        This is PostgreSQL seen from CC: ids come from a sequence at insert time,
        created_at is the transaction's start, and rows show up only at COMMIT,
        possibly after rows with higher ids.
        """
        with self.lock:
            self.append_usage_events(n, at_us)
            return self.store.detach_tail(n)

    def commit(self, rows: list[tuple[int, ...]]) -> None:
        """Make the rows of `open_transaction` visible."""
        with self.lock:
            self.store.attach(rows)

    def purge_and_reseed(self, now_us: int) -> None:
        """TRUNCATE, then one STARTED row per started process (guid = process guid).

        As in `purge_and_reseed_started_apps!`: previous values equal the current
        ones, process_type is not copied, and every row gets the same `now`.
        """
        with self.lock:
            store = self.store
            store.truncate()
            for a, p, memory, instances in self.simulator.started_processes():
                app_state = self.simulator.apps[a]
                started = STATE_INDEX["STARTED"]
                event_id = store.add(
                    started,
                    started,
                    a,
                    p,
                    memory,
                    memory,
                    instances,
                    instances,
                    app_state.buildpack,
                    NULL,
                )
                guid = self.apps[a].processes[p][0]
                store.reseeded[event_id] = guid
                store.reseeded_by_guid[guid] = event_id
            store.stamp_new_rows(now_us)

    def prune_usage_events_before(self, cutoff_us: int) -> None:
        """Retention cleanup: delete rows created before the cutoff, except the newest row."""
        with self.lock:
            store = self.store
            last = len(store) - 1
            store.keep_only(
                p for p in range(len(store)) if store.created[p] >= cutoff_us or p == last
            )


def _renamed(app: App, name: str) -> App:
    return App(
        guid=app.guid,
        name=name,
        space_guid=app.space_guid,
        org_guid=app.org_guid,
        processes=app.processes,
        lifecycle=app.lifecycle,
        buildpack=app.buildpack,
        droplet_guid=app.droplet_guid,
        created_at_us=app.created_at_us,
    )
