"""The live foundation (`python -m cfevents.sandbox --live`): a sandbox that keeps moving.

It listens at a stable address (default http://127.0.0.1:8080) and its foundation advances with
the wall clock: apps are started, stopped, scaled, resized, restarted, deployed and restaged,
tasks run, builds finish (each user action audited as CC audits it), service instances are
created, re-planned, renamed and deleted, and one app crashes every few minutes, at `rate` app and service actions per simulated hour and `speed`
simulated hours per wall hour, each stamped with the time it happens. CC's daily cleanup runs at
18:00 UTC (31 days; `keep_running` for the #5210 cleanup). Everything is written as CC writes it
and recorded in the simulation's truth, so a report can be checked against what really ran.

A test does not wait for the clock: `LiveFoundation.advance(hours)` (or `POST
/sandbox/live/advance?hours=N` with an admin token) writes `hours` of activity at once, stamped
between the last activity and `MARGIN_S` before now, old enough for an export's default
60 s `--min-age`.

State directory (`--state-dir`, else `$CFEVENTS_SANDBOX_DIR`, else
`$XDG_STATE_HOME/cfevents/sandbox` or `~/.local/state/cfevents/sandbox`):

- `foundation.json`: the recipe (seed, days, the end of the generated history, options),
  written on the first start;
- `journal.jsonl`: every change since, one JSON line each, flushed and fsynced;
- `live.json`: where it listens now (url, pid), for `cfevents --demo` and scripts.

A restart regenerates the foundation from the recipe and replays the journal: the same events,
ids and truth as before, and the foundation carries on from there.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cfevents.sandbox.audit import DAY_US
from cfevents.sandbox.server import Sandbox, SandboxConfig
from cfevents.sandbox.store import SECOND_US, from_us, iso_second, to_us

DEFAULT_PORT = 8080
#: App and service actions per simulated hour.
RATE = 30.0
#: `advance()` stamps its activity at least this long before now (an export's default
#: --min-age with a checkpoint is 60 s).
MARGIN_S = 90
#: The generated history ends this long before the first start, so the first advance has room.
HISTORY_LAG = timedelta(minutes=10)
#: Older-CC rows and a client-credentials actor: the live foundation has what real ones have.
APPLESS_DAYS = 3
#: CC's clock jobs run the usage cleanups daily (the service one at 22:00; one time here).
CLEANUP_HOUR = 18
#: The audit event CC writes for the request behind each app action (`next` is the platform).
AUDIT_TYPES = {
    "start": "audit.app.start",
    "stop": "audit.app.stop",
    "restart": "audit.app.restart",
    "scale": "audit.app.process.scale",
    "resize": "audit.app.process.scale",
    "deploy": "audit.app.deployment.create",
    "restage": "audit.app.restage",
    "rolling_restage": "audit.app.deployment.create",
    "run_task": "audit.app.task.create",
}
STATE_FILE = "live.json"
RECIPE_FILE = "foundation.json"
JOURNAL_FILE = "journal.jsonl"


def default_state_dir() -> Path:
    """`$CFEVENTS_SANDBOX_DIR`, else `$XDG_STATE_HOME/cfevents/sandbox`, else ~/.local/state/…."""
    explicit = os.environ.get("CFEVENTS_SANDBOX_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cfevents" / "sandbox"


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """How to run a live foundation; seed and days only matter on the first start."""

    state_dir: Path
    seed: int = 1
    days: int = 40
    rate: float = RATE
    speed: float = 1.0  # simulated hours per wall hour; 0: only advance() moves it
    tick_s: float = 5.0
    retention_days: int | None = 31
    keep_running: bool = False
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    external_url: str | None = None


class LiveFoundation:
    """Moves a sandbox's foundation forward, journaling every change (see the module doc)."""

    def __init__(self, sandbox: Sandbox, config: LiveConfig, last_us: int, steps: int) -> None:
        self.sandbox = sandbox
        self.foundation = sandbox.foundation
        self.config = config
        self.last_us = last_us
        self.steps = steps
        self._journal_path = config.state_dir / JOURNAL_FILE
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- moving ------------------------------------------------------------------------------

    def advance(self, hours: float) -> int:
        """`hours` of activity now, stamped up to MARGIN_S before now; returns the changes."""
        with self._lock:
            end = max(time.time_ns() // 1000 - MARGIN_S * SECOND_US, self.last_us)
            return self._step(self.last_us, end, hours)

    def catch_up(self, elapsed_s: float) -> int:
        """The activity of `elapsed_s` wall seconds × speed, stamped as it happens (until now)."""
        with self._lock:
            end = max(time.time_ns() // 1000, self.last_us)
            return self._step(self.last_us, end, elapsed_s * self.config.speed / 3600)

    def _step(self, start_us: int, end_us: int, hours: float) -> int:
        """Draw the activity of `hours` simulated hours into (start, end], apply and journal it."""
        rng = random.Random(f"{self.foundation.seed}/live/{self.steps}")
        entries = self._cleanups(start_us, end_us)
        span = end_us - start_us
        count = _poisson(rng, self.config.rate * hours)
        crashes = _poisson(rng, hours * 3600 / rng.randint(180, 360))  # one every 3-6 minutes
        times = sorted(start_us + 1 + rng.randrange(max(span, 1)) for _ in range(count + crashes))
        kinds = ["action"] * count + ["crash"] * crashes
        rng.shuffle(kinds)
        entries += [{"at_us": t, "do": kind} for t, kind in zip(times, kinds, strict=True)]
        entries.sort(key=lambda e: e["at_us"])
        written = []
        for entry in entries:
            concrete = self._choose(rng, entry) if entry["do"] in ("action", "crash") else entry
            if concrete is not None:
                self.apply(concrete)
                written.append(concrete)
        written.append({"do": "tick", "at_us": end_us})
        self._write(written)
        self.last_us, self.steps = end_us, self.steps + 1
        return len(written) - 1

    def _cleanups(self, start_us: int, end_us: int) -> list[dict[str, Any]]:
        """CC's daily cleanup at each CLEANUP_HOUR (UTC) in (start, end]."""
        days = self.config.retention_days
        if days is None:
            return []
        first = from_us(start_us).replace(hour=CLEANUP_HOUR, minute=0, second=0, microsecond=0)
        found = []
        moment = first if to_us(first) > start_us else first + timedelta(days=1)
        while to_us(moment) <= end_us:
            found.append(
                {
                    "at_us": to_us(moment),
                    "do": "cleanup",
                    "days": days,
                    "keep_running": self.config.keep_running,
                }
            )
            moment += timedelta(days=1)
        return found

    def _choose(self, rng: random.Random, entry: dict[str, Any]) -> dict[str, Any] | None:
        """A concrete change for an "action" or "crash" slot, valid in the present state."""
        f = self.foundation
        live = sorted(f.live_apps(), key=lambda a: a.guid)
        if not live:
            return None
        at = entry["at_us"]
        if entry["do"] == "crash":
            started = [a for a in live if f.app_state(a.guid) == "STARTED"] or live
            app = started[(at // DAY_US) % len(started)]  # one app loops, a new one each day
            return {"at_us": at, "do": "crash", "app": app.guid, "seed": rng.randrange(1 << 30)}
        if rng.random() < 0.2:
            services = f.services.live()
            action = rng.choice(("create", "update_plan", "rename", "update_parameters", "delete"))
            if not services:
                action = "create"
            return {"at_us": at, "do": "service", "action": action}
        app = rng.choice(live)
        weights: tuple[tuple[str, int], ...]
        if f.app_state(app.guid) == "STARTED":
            weights = (
                ("scale", 4), ("resize", 2), ("restart", 2), ("run_task", 3), ("deploy", 1),
                ("rolling_restage", 1), ("next", 3), ("stop", 1),
            )  # fmt: skip
        else:
            weights = (("start", 6), ("run_task", 1), ("restage", 1), ("next", 2))
        action = rng.choices([a for a, _ in weights], [w for _, w in weights])[0]
        return {"at_us": at, "do": "app", "action": action, "app": app.guid}

    def apply(self, entry: dict[str, Any]) -> None:
        """Make one journaled change (also when replaying the journal)."""
        f, at = self.foundation, int(entry["at_us"])
        kind = entry["do"]
        if kind == "app":
            f.perform(entry["action"], entry["app"], at)
            if entry["action"] in AUDIT_TYPES:  # the user's request, as CC audits it
                f.user_event(AUDIT_TYPES[entry["action"]], entry["app"], at, seed=at)
        elif kind == "service":
            f.service_action(entry["action"], at)
        elif kind == "crash":
            f.crash(entry["app"], at, int(entry["seed"]))
        elif kind == "cleanup":
            cutoff = at - int(entry["days"]) * DAY_US
            f.cleanup(at, int(entry["days"]), keep_running=bool(entry["keep_running"]))
            f.prune_audit_events_before(cutoff)
        elif kind == "purge":
            f.purge_and_reseed(at)
        elif kind == "purge_services":
            f.purge_and_reseed_services(at)

    # -- the journal ---------------------------------------------------------------------------

    def _write(self, entries: list[dict[str, Any]]) -> None:
        with self._journal_path.open("a", encoding="utf-8") as fh:
            for entry in entries:
                fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def note(self, entry: dict[str, Any]) -> None:
        """A change a request made (a purge): journaled so a restart repeats it."""
        self._write([entry])

    # -- the wall clock ------------------------------------------------------------------------

    def run_in_background(self) -> None:
        """Advance with the wall clock every `tick_s` seconds until `stop()` (speed > 0)."""
        if self.config.speed <= 0:
            return

        def loop() -> None:
            last = time.monotonic()
            while not self._stop.wait(self.config.tick_s):
                now = time.monotonic()
                self.catch_up(now - last)
                last = now

        self._thread = threading.Thread(target=loop, name="live-foundation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method in chunks, fine for the means used here)."""
    count = 0
    while mean > 0:
        chunk = min(mean, 30.0)
        mean -= chunk
        limit, product = pow(2.718281828459045, -chunk), rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
    return count


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def open_live(config: LiveConfig) -> LiveFoundation:
    """Build (first start) or rebuild and replay (restart) the live foundation; not serving yet."""
    state = config.state_dir
    state.mkdir(parents=True, exist_ok=True)
    recipe_path = state / RECIPE_FILE
    if recipe_path.exists():
        recipe = _read_json(recipe_path)
    else:
        end = datetime.now(UTC).replace(microsecond=0) - HISTORY_LAG
        recipe = {"seed": config.seed, "days": config.days, "end": iso_second(to_us(end))}
        _write_json(recipe_path, recipe)
    end = datetime.strptime(recipe["end"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    sandbox = Sandbox(
        SandboxConfig(
            seed=int(recipe["seed"]),
            end=end,
            days=int(recipe["days"]),
            external_url=config.external_url,
            appless_usage_days=APPLESS_DAYS,
            client_actor_events=True,
        )
    )
    live = LiveFoundation(sandbox, config, to_us(end), 0)
    for entry in _replayable(state / JOURNAL_FILE):
        live.apply(entry)
        if entry["do"] == "tick":
            live.last_us, live.steps = int(entry["at_us"]), live.steps + 1
    sandbox.foundation.journal = live.note
    sandbox.live = live
    return live


def _replayable(journal: Path) -> list[dict[str, Any]]:
    """The journal's entries up to its last complete step; a step cut short by a kill (no
    tick line yet, or half a line) is cut off the file, as if it never happened."""
    if not journal.exists():
        return []
    entries: list[dict[str, Any]] = []
    good = kept = 0  # bytes and entries up to the end of the last complete step
    offset = 0
    with journal.open("rb") as fh:
        for raw in fh:
            offset += len(raw)
            if not raw.endswith(b"\n"):
                break
            entry = json.loads(raw)  # a bad complete line is a broken state dir: raise
            entries.append(entry)
            if entry.get("do") in ("tick", "purge", "purge_services"):
                good, kept = offset, len(entries)
    if good < journal.stat().st_size:
        with journal.open("r+b") as fh:
            fh.truncate(good)
    return entries[:kept]


def start_live(config: LiveConfig) -> LiveFoundation:
    """`open_live`, then serve at the configured address, write live.json and start the clock."""
    live = open_live(config)
    live.sandbox.start(config.host, config.port)
    _write_json(
        config.state_dir / STATE_FILE,
        {"url": live.sandbox.url, "pid": os.getpid(), "config": _jsonable(config)},
    )
    live.run_in_background()
    return live


def stop_live(live: LiveFoundation) -> None:
    """Stop the clock and the server; live.json goes (the recipe and journal stay)."""
    live.stop()
    live.sandbox.stop()
    (live.config.state_dir / STATE_FILE).unlink(missing_ok=True)


def _jsonable(config: LiveConfig) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}


def admin_token(ttl: int = 12 * 3600) -> str:
    """`bearer <jwt>`: an admin token any sandbox accepts (they share the signing key), for a
    process that did not start the live sandbox (`cfevents --demo`)."""
    from cfevents.sandbox.tokens import TokenAuthority

    return "bearer " + TokenAuthority(ttl).mint(
        ("cloud_controller.admin",), user_name="sandbox-admin"
    )


def running_url(state_dir: Path | None = None) -> str | None:
    """The URL of a live sandbox serving from `state_dir` (default: the default one), if any:
    live.json exists, names a live process, and the URL answers."""
    import urllib.request

    path = (state_dir or default_state_dir()) / STATE_FILE
    try:
        state = _read_json(path)
        os.kill(int(state["pid"]), 0)
        url = str(state["url"])
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
        with direct.open(f"{url}/v2/info", timeout=2) as reply:
            ok = reply.status == 200
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if ok else None
