"""The --exec supervisor (cfevents.events.hooks): outcomes, environment, process group."""

import os
import subprocess
import threading
import time
from pathlib import Path

from cfevents.events.hooks import Hook, HookOutcome, child_environment, stop_group

PARENT = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/home/op",
    "LANG": "C.UTF-8",
    "CF_TOKEN": "bearer abc.def.ghi",
    "CF_CLIENT_SECRET": "s3cret",
    "CF_PASSWORD": "pw",
    "AWS_SECRET_ACCESS_KEY": "aws",
}


def test_child_environment_is_minimal():
    env = child_environment({"CFEVENTS_APP_NAME": "web\0x", "OTHER": "no"}, PARENT)
    assert env == {
        "PATH": PARENT["PATH"],
        "HOME": "/home/op",
        "LANG": "C.UTF-8",
        "CFEVENTS_APP_NAME": "webx",
    }


def test_outcomes_name_the_exit_status(tmp_path):
    log = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT)
    hook = Hook("cat > /dev/null; echo out; exit 3", log=log, parent_env=PARENT)
    outcome = hook.run(b"{}", {})
    assert outcome == HookOutcome(status=3) and outcome.problem() == "exited with status 3"
    assert hook.run(b"x" * 1_000_000, {}).status == 3  # a big payload the command reads
    assert Hook("exit 0", log=log, parent_env=PARENT).run(b"{}" * 100_000, {}).ok  # unread stdin
    os.close(log)
    assert (tmp_path / "log").read_text() == "out\nout\n"
    assert HookOutcome(status=-9).problem() == "was killed by SIGKILL"


def test_a_hanging_command_is_killed_at_its_timeout_with_its_whole_group(tmp_path):
    pids = tmp_path / "pids"
    hook = Hook(
        f'sleep 300 & echo $! > "{pids}"; trap "" TERM; wait',  # the shell even ignores SIGTERM
        timeout=1,
        log=os.open(os.devnull, os.O_WRONLY),
        parent_env=PARENT,
    )
    started = time.monotonic()
    outcome = hook.run(b"{}", {})
    assert outcome.timed_out and "process group was killed" in (outcome.problem() or "")
    assert time.monotonic() - started < 30
    child = int(pids.read_text())
    _wait_gone(child)


def test_what_a_command_leaves_running_is_killed_when_it_exits(tmp_path):
    pids = tmp_path / "pids"
    hook = Hook(f'sleep 300 & echo $! > "{pids}"', log=os.open(os.devnull, os.O_WRONLY))
    assert hook.run(b"", {}).ok
    _wait_gone(int(pids.read_text()))


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
            if state == "Z":
                return
        except (ProcessLookupError, FileNotFoundError):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still running")


def test_stop_group_ends_even_when_an_interrupted_wait_left_popens_lock_held():
    """A signal raised just after Popen.wait's ``_waitpid_lock.acquire(False)`` (before its
    ``try``) leaves that lock held; stopping the group must not wait on it for ever."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    proc._waitpid_lock.acquire()  # the state such an interrupted wait leaves behind
    stopper = threading.Thread(target=stop_group, args=(proc,), daemon=True)
    stopper.start()
    stopper.join(60)
    alive = stopper.is_alive()
    if alive:  # blocked in Popen.wait() on the held lock: let it go, so the test ends
        proc._waitpid_lock.release()
        stopper.join(60)
    assert not alive
    assert proc.returncode == -15  # it ended at the group's SIGTERM, and was reaped
