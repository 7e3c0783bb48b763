"""Reading a child's pseudo-terminal: the one loop the terminal tests share."""

from __future__ import annotations

import os
import subprocess

WAIT_S = 300  # generous: the suite must pass on a machine five times slower


def drain(master: int, proc: subprocess.Popen[bytes]) -> str:
    """Everything the child wrote to the terminal whose master end is ``master``, read until
    the child closes it (EIO on Linux, EOF elsewhere); then the child has exited and ``master``
    is closed."""
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=WAIT_S)
    os.close(master)
    return b"".join(chunks).decode()
