"""The process environment a command runs in: its streams and variables, read in one place."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Environment:
    """stdout (results only), stderr (notes, warnings, errors, progress) and the variables."""

    stdout: TextIO
    stderr: TextIO
    env: Mapping[str, str]

    @classmethod
    def current(cls) -> Environment:
        """This process's streams and ``os.environ`` (as they are now: tests swap them).
        A lone surrogate in a name reaches stdout as its JSON escape (output.unstorable)."""
        from cfevents.output.unstorable import ERRORS

        reconfigure = getattr(sys.stdout, "reconfigure", None)
        if reconfigure is not None and getattr(sys.stdout, "errors", "strict") == "strict":
            reconfigure(errors=ERRORS)
        return cls(sys.stdout, sys.stderr, dict(os.environ))

    def stdout_isatty(self) -> bool:
        return _isatty(self.stdout)

    def stderr_isatty(self) -> bool:
        return _isatty(self.stderr)

    def write_err(self, line: str) -> None:
        """One line on stderr, escaped as in tables (server text is in notes and warnings) and
        with every secret this process holds redacted; a closed stderr is not an error worth
        another one."""
        from cfevents.errors import redact
        from cfevents.output.formatters import escape_control

        text = escape_control(redact(line))
        if self.stderr_isatty():
            text = "\n".join(fit_terminal(text, self.stderr, self.env))
        try:
            self.stderr.write(text + "\n")
            self.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def fit_terminal(text: str, stream: TextIO, env: Mapping[str, str] | None = None) -> list[str]:
    """``text`` as lines no wider than the terminal ``stream`` is (broken between words)."""
    from cfevents.output.table import terminal_width, wrap_line

    return wrap_line(text, terminal_width(stream, env))
