"""Text Cloud Controller sends that a sink cannot take as it is: the one rule, here.

CC's JSON can hold a lone UTF-16 surrogate (``"\\ud800"``, half of a pair) or a NUL
(``"\\u0000"``) in a name. Decoded, neither can be written everywhere: a lone surrogate has no
UTF-8 form (files, stdout, SQLite, PostgreSQL refuse it) and PostgreSQL text cannot hold NUL.
One bad name must not stop an export, so every sink writes them as the JSON escape CC sent,
the six characters ``\\udnnn`` / ``\\u0000``:

- JSON (NDJSON and JSON files and stdout, the stores' ``raw`` column): the escape is the JSON
  spelling of the same value, so the event reads back exactly as CC sent it.
- flat text (CSV, TSV, tables): a lone surrogate is the same six characters; NUL is kept (a
  UTF-8 file holds it; a terminal table shows ``\\x00``).
- the stores' flat columns: both as their escape, ``\\ud800`` and ``\\u0000`` (PostgreSQL text
  cannot hold NUL; SQLite rows read the same). To get the exact value back, read ``raw`` (or
  the NDJSON export); ``json.loads('"' + value + '"')`` undoes the escape of a value without
  ``"`` or ``\\``.

:data:`ERRORS` is the codec error handler that applies the rule to any text stream (the export's
files and stdout are opened with it); :func:`escape_text` applies it to one value.
"""

from __future__ import annotations

import codecs
import re

ERRORS = "cfevents-escape"  # the codec error handler: a lone surrogate becomes \udnnn
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_text(text: str) -> str:
    """``text`` with each lone surrogate and NUL as its JSON escape (``\\ud800``, ``\\u0000``)."""
    return _UNSTORABLE.sub(_escape, text)


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate as its JSON escape; in encoded JSON that is the same
    JSON value, now valid UTF-8."""
    return _SURROGATE.sub(_escape, text)


def unstorable(raw_json: str) -> bool:
    """Whether an encoded event (``ensure_ascii=False``) holds a NUL or a lone surrogate."""
    return "\\u0000" in raw_json or (not raw_json.isascii() and bool(_SURROGATE.search(raw_json)))


def _handler(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeEncodeError):
        bad = exc.object[exc.start : exc.end]
        if all("\ud800" <= c <= "\udfff" for c in bad):
            return "".join(f"\\u{ord(c):04x}" for c in bad), exc.end
    raise exc


codecs.register_error(ERRORS, _handler)
