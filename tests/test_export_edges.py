"""Exactly once at the edges of `usage export --checkpoint`: the first run, the checkpoint's
location, two runs at once, fsync and disk-full failures, a rotated or truncated --out."""

import errno
import fcntl
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from cfevents.export import checkpoint as ckpt


def sandbox_guids(sb):
    return [e["guid"] for e in sb.foundation.usage_events_v3()]


def ndjson_guids(path: Path):
    return [json.loads(line)["guid"] for line in path.read_text().splitlines() if line]


def list_requests(sb):
    return [r for r in sb.requests if r.path == "/v3/app_usage_events"]


def export_args(out: Path, cp: Path, *extra: str):
    return [
        "usage",
        "export",
        "--checkpoint",
        str(cp),
        "--out",
        str(out),
        "--min-age",
        "0s",
        "--per-page",
        "100",
        *extra,
    ]


@pytest.mark.parametrize("where", ["missing-dir", "unwritable", "parent-is-a-file"])
def test_checkpoint_location_is_probed_before_any_request(fresh_cli, tmp_path, where):
    sb = fresh_cli.sandbox
    cp = {
        "missing-dir": tmp_path / "nope" / "c.ckpt",
        "unwritable": Path("/proc/cfevents-test.ckpt"),  # nobody can create files there
        "parent-is-a-file": tmp_path / "file" / "c.ckpt",
    }[where]
    (tmp_path / "file").write_text("x")
    out = tmp_path / "u.ndjson"
    sb.clear_requests()
    result = fresh_cli(*export_args(out, cp))
    assert result.exit_code == 2, result.output
    assert "--checkpoint" in result.stderr and len(result.stderr.splitlines()) == 1
    assert list_requests(sb) == []
    assert not out.exists()


def test_checkpoint_and_out_naming_the_same_file_is_refused(fresh_cli, tmp_path):
    same = tmp_path / "same.ndjson"
    result = fresh_cli(*export_args(same, same))
    assert result.exit_code == 2 and "name the same file" in result.stderr
    assert not same.exists()
    out = tmp_path / "u.ndjson"
    out.write_text("")
    link = tmp_path / "hard.ckpt"
    os.link(out, link)  # another name, the same inode
    result = fresh_cli(*export_args(out, link))
    assert result.exit_code == 2 and "name the same file" in result.stderr
    assert out.read_text() == ""


def test_second_run_on_a_locked_checkpoint_fails_at_once(fresh_cli, tmp_path):
    sb = fresh_cli.sandbox
    out, cp = tmp_path / "u.ndjson", tmp_path / "c.ckpt"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, str(os.getpid()).encode())\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(cp) + ".lock",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        sb.clear_requests()
        result = fresh_cli(*export_args(out, cp))
        assert result.exit_code == 8, result.output
        assert f"another export holds {cp} (pid {holder.pid})" in result.stderr
        assert list_requests(sb) == [] and not out.exists() and not cp.exists()
    finally:
        holder.kill()
        holder.communicate()
    # the lock died with its holder: no stale pid file to clean up
    result = fresh_cli(*export_args(out, cp))
    assert result.exit_code == 0, result.output
    assert ndjson_guids(out) == sandbox_guids(sb)


def test_lock_is_held_during_a_run_and_released_after(fresh_cli, tmp_path):
    from cfevents import connect

    sb = fresh_cli.sandbox
    out, cp = tmp_path / "u.ndjson", tmp_path / "c.ckpt"
    cf = connect(api=sb.url, token=sb.admin_token())
    seen = []

    def try_lock(*_):
        fd = os.open(str(cp) + ".lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append("free")
        except BlockingIOError:
            seen.append("held")
        finally:
            os.close(fd)

    with cf.usage_export(out=out, checkpoint=cp, min_age="0s", per_page=100) as job:
        job.run(on_batch=try_lock)
    try_lock()
    assert set(seen[:-1]) == {"held"} and seen[-1] == "free"


def test_first_run_dying_before_its_first_checkpoint_duplicates_nothing(
    fresh_cli, tmp_path, monkeypatch
):
    sb = fresh_cli.sandbox
    out, cp = tmp_path / "u.ndjson", tmp_path / "c.ckpt"
    out.write_text('{"guid":"kept-from-before"}\n')
    real_save = ckpt.save

    def die_before_recording_a_page(path, checkpoint):
        if checkpoint.events:  # the first page is written and flushed, not yet recorded
            raise KeyboardInterrupt
        real_save(path, checkpoint)

    monkeypatch.setattr(ckpt, "save", die_before_recording_a_page)
    result = fresh_cli(*export_args(out, cp))
    assert result.exit_code == 130
    assert len(ndjson_guids(out)) > 1  # the dead run left a page behind, unrecorded
    assert ckpt.load(cp).events == 0 and ckpt.load(cp).output.bytes == 28
    monkeypatch.setattr(ckpt, "save", real_save)
    result = fresh_cli(*export_args(out, cp))
    assert result.exit_code == 0, result.output
    assert ndjson_guids(out) == ["kept-from-before", *sandbox_guids(sb)]


def test_resumed_run_says_where_it_resumes(fresh_cli, tmp_path):
    sb = fresh_cli.sandbox
    out, cp = tmp_path / "u.ndjson", tmp_path / "c.ckpt"
    assert fresh_cli(*export_args(out, cp)).exit_code == 0
    first = ckpt.load(cp)
    result = fresh_cli(*export_args(out, cp))
    assert (
        f"resuming after event {first.after_guid} ({first.events:,} events already exported)"
        in result.stderr
    )
    assert "resuming" not in fresh_cli("-q", *export_args(out, cp)).stderr
    assert ndjson_guids(out) == sandbox_guids(sb)


def test_failed_fsync_is_an_io_error_and_the_checkpoint_stays(fresh_cli, tmp_path, monkeypatch):
    out, cp = tmp_path / "u.ndjson", tmp_path / "c.ckpt"
    real_fsync = os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}") == str(out):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    result = fresh_cli(*export_args(out, cp))
    assert result.exit_code == 9, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"cannot write {out}: Input/output error" in lines[0]
    assert "nothing past event 0 was recorded; rerun to resume" in lines[0]
    assert ckpt.load(cp).events == 0  # never past bytes that are not durable


def test_disk_full_names_the_file_and_a_rerun_completes(fresh_sandbox, tmp_path):
    sb = fresh_sandbox
    out, cp = tmp_path / "u.ndjson", tmp_path / "c.ckpt"
    env = {
        **os.environ,
        "CF_API": sb.url,
        "CF_TOKEN": sb.admin_token(),
        "CF_HOME": str(tmp_path),
        "CFEVENTS_OUTPUT": "",
    }
    limit = 150_000  # a file may not grow past this: EFBIG, like a full disk

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cmd = [sys.executable, "-m", "cfevents", *export_args(out, cp)]
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, preexec_fn=small_disk, timeout=120
    )
    assert proc.returncode == 9, proc.stderr
    lines = proc.stderr.strip().splitlines()
    saved = ckpt.load(cp)
    assert len(lines) == 1 and f"cannot write {out}: File too large" in lines[0]
    assert f"nothing past event {saved.events:,} ({saved.after_guid}) was recorded" in lines[0]
    assert "rerun to resume" in lines[0]
    assert 0 < saved.events < len(sandbox_guids(sb))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ndjson_guids(out) == sandbox_guids(sb)


@pytest.mark.parametrize("change", ["rotated", "truncated"])
def test_out_rotated_or_truncated_fails_or_carries_on_in_a_new_file(fresh_cli, tmp_path, change):
    sb = fresh_cli.sandbox
    out, cp = tmp_path / "u.csv", tmp_path / "c.ckpt"
    assert fresh_cli(*export_args(out, cp)).exit_code == 0
    before = out.read_text().splitlines()
    if change == "rotated":
        out.rename(tmp_path / "u.csv.1")
    else:
        out.write_text("")
    sb.append_usage_events(5)
    result = fresh_cli(*export_args(out, cp))
    assert result.exit_code == 9, result.output
    assert "--on-rotated new-file" in result.stderr
    result = fresh_cli(*export_args(out, cp, "--on-rotated", "new-file"))
    assert result.exit_code == 0, result.output
    rows = out.read_text().splitlines()
    assert rows[0].startswith("guid,")  # a new file gets its header row
    got = [r.split(",")[0] for r in before[1:] + rows[1:]]
    assert got == sandbox_guids(sb)


def test_out_rotated_while_exporting_carries_on_in_a_new_file(fresh_cli, tmp_path):
    from cfevents import connect

    sb = fresh_cli.sandbox
    out, cp = tmp_path / "u.csv", tmp_path / "c.ckpt"
    rotated = tmp_path / "u.csv.1"
    cf = connect(api=sb.url, token=sb.admin_token())

    def rotate_after_first_page(read, pages, total):
        if pages == 1:
            out.rename(rotated)

    with cf.usage_export(
        out=out, checkpoint=cp, min_age="0s", per_page=100, on_rotated="new-file"
    ) as job:
        job.run(on_batch=rotate_after_first_page)
    old, new = rotated.read_text().splitlines(), out.read_text().splitlines()
    assert old[0].startswith("guid,") and new[0].startswith("guid,")
    assert [r.split(",")[0] for r in old[1:] + new[1:]] == sandbox_guids(sb)
    assert ckpt.load(cp).output.bytes == out.stat().st_size

    # without new-file, the run stops (exit 9) at the page after the rotation
    sb.append_usage_events(250)
    with (
        pytest.raises(Exception, match="was rotated away or truncated while exporting") as err,
        cf.usage_export(out=out, checkpoint=cp, min_age="0s", per_page=100) as job,
    ):
        job.run(on_batch=lambda *_: out.exists() and out.rename(tmp_path / "u.csv.2"))
    assert getattr(err.value, "exit_code", None) == 9
