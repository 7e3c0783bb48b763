"""``--exec CMD`` as a supervisor runs it: a timeout, a process group, a clean environment.

Each run of :class:`Hook`:

- runs ``CMD`` with ``/bin/sh -c`` in a new session (its own process group), the record as
  JSON on stdin;
- gets a minimal environment: ``PATH``, ``HOME`` and ``LANG`` from cfevents' own, plus the
  record's ``CFEVENTS_*`` variables; nothing else (no ``CF_TOKEN``, ``CF_CLIENT_SECRET``, ...);
- writes its stdout and stderr to a log descriptor (cfevents' stderr, or ``--exec-log FILE``),
  never to cfevents' stdout, which carries only records;
- is given ``timeout`` seconds: then its whole group gets SIGTERM and, :data:`KILL_GRACE_S`
  later, SIGKILL; the same happens when cfevents itself is stopped (SIGTERM, Ctrl-C) during
  the run;
- ends with its group: whatever ``CMD`` left running in the background is killed when it exits.

A failed run is an outcome (:class:`HookOutcome`), not an exception: the caller reports it in
one line and carries on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

SAFE_VARIABLES = ("PATH", "HOME", "LANG")
VARIABLE_PREFIX = "CFEVENTS_"
DEFAULT_TIMEOUT_S = 60.0
MAX_TIMEOUT_S = 86_400.0
KILL_GRACE_S = 2.0  # between SIGTERM and SIGKILL to the group
SHELL = "/bin/sh"


@dataclass(frozen=True)
class HookOutcome:
    """How one run ended: ``status`` is its exit status (negative: killed by that signal),
    ``timed_out`` when cfevents killed it at its timeout, ``error`` when it could not start."""

    status: int | None = None
    timed_out: bool = False
    error: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S

    @property
    def ok(self) -> bool:
        return self.status == 0 and not self.timed_out and self.error is None

    def problem(self) -> str | None:
        """What went wrong, in a few words (None when the run succeeded)."""
        if self.error is not None:
            return f"could not run: {self.error}"
        if self.timed_out:
            return f"timed out after {self.timeout:g}s; its process group was killed"
        if self.status is not None and self.status < 0:
            try:
                name = signal.Signals(-self.status).name
            except ValueError:
                name = f"signal {-self.status}"
            return f"was killed by {name}"
        if self.status:
            return f"exited with status {self.status}"
        return None


def child_environment(variables: Mapping[str, str], parent: Mapping[str, str]) -> dict[str, str]:
    """``PATH``/``HOME``/``LANG`` from ``parent`` and the ``CFEVENTS_*`` entries of
    ``variables``: the whole environment a run gets."""
    env = {name: parent[name] for name in SAFE_VARIABLES if name in parent}
    env.update(
        {
            name: value.replace("\0", "")
            for name, value in variables.items()
            if name.startswith(VARIABLE_PREFIX)
        }
    )
    return env


class Hook:
    """Runs one command per record (see the module docstring). ``log`` is the file descriptor
    the command's stdout and stderr go to (default 2, cfevents' stderr)."""

    def __init__(
        self,
        command: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        log: int = 2,
        parent_env: Mapping[str, str] | None = None,
    ) -> None:
        self.command = command
        self.timeout = timeout
        self.log = log
        self.parent_env = dict(os.environ if parent_env is None else parent_env)
        self.runs = 0
        self.failures = 0

    def run(self, payload: bytes, variables: Mapping[str, str]) -> HookOutcome:
        """Run the command once with ``payload`` on stdin; returns how it ended. An exception
        raised meanwhile (SIGTERM, Ctrl-C) kills the process group, then propagates."""
        self.runs += 1
        try:
            proc = subprocess.Popen(
                [SHELL, "-c", self.command],
                stdin=subprocess.PIPE,
                stdout=self.log,
                stderr=self.log,
                env=child_environment(variables, self.parent_env),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            self.failures += 1
            return HookOutcome(error=exc.strerror or str(exc), timeout=self.timeout)
        try:
            proc.communicate(payload, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            self.failures += 1
            return HookOutcome(timed_out=True, timeout=self.timeout)
        except BaseException:
            stop_group(proc)
            raise
        finally:
            _signal_group(proc.pid, signal.SIGKILL)  # what it left running in the background
        outcome = HookOutcome(status=proc.returncode, timeout=self.timeout)
        if not outcome.ok:
            self.failures += 1
        return outcome


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after :data:`KILL_GRACE_S`; reaps the leader.

    It reaps with ``os.waitpid`` itself, not ``Popen.wait``: a signal raised just after
    ``Popen.wait``'s ``_waitpid_lock.acquire(False)`` and before its ``try`` (the SIGTERM that
    brought us here, under load) leaves that lock held for good, and a second ``wait()``
    would then block forever instead of exiting 143.
    """
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_S
    while not _reaped(proc, block=False) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)
    _reaped(proc, block=True)


def _reaped(proc: subprocess.Popen[bytes], *, block: bool) -> bool:
    """Whether the leader has ended (its status recorded in ``proc.returncode``)."""
    if proc.returncode is not None:
        return True
    try:
        pid, status = os.waitpid(proc.pid, 0 if block else os.WNOHANG)
    except ChildProcessError:  # Popen reaped it just before the signal: its status is gone
        proc.returncode = 0  # what Popen records then
        return True
    if pid == 0:
        return False
    proc.returncode = os.waitstatus_to_exitcode(status)
    return True


def _signal_group(pgid: int, signum: int) -> None:
    # The group id stays reserved while any member lives, so this never reaches a stranger.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
