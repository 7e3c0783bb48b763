"""Each event's JSON text as Cloud Controller sent it, cut out of the page's body.

A store's ``raw`` column holds the event as CC sent it. Encoding every decoded event again cost
a store export about a fifth of its time; the text is already in the page body, so it is cut
out instead (a slice, no encoding). Two ways, both exact:

- CC's compact body, ``{"pagination":{...},"resources":[{"guid":"g1",...},{"guid":"g2",...}]}``:
  the resources' text split at ``},{``. It is used only when that gives one piece per decoded
  resource and piece k starts with ``{"guid":"<guid of resource k>"`` (a ``},{`` inside a string
  value or a nested list would add a piece, or start one with something else: such a page
  takes the second way).
- any other body (whitespace, other key order): the body walked with the standard library's
  scanner, which gives each resource's end offset along with its value.

Text cut this way never holds what a store cannot take: a NUL or a lone surrogate can only
be in JSON text as the escape ``\\u0000`` / ``\\ud800`` (ASCII). Decoded flat values still can,
so callers look for ``\\u`` in the text before storing those (cfevents.output.unstorable).
"""

from __future__ import annotations

import itertools
import json
import json.decoder
import re
from collections.abc import Callable
from typing import Any

_HEAD = '"resources":['
# the standard library's C scanner and string reader (not in typeshed's stubs)
_SCAN: Callable[[str, int], tuple[Any, int]] = vars(json.JSONDecoder())["scan_once"]
scanstring: Callable[[str, int], tuple[str, int]] = vars(json.decoder)["scanstring"]
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace


def split_page(
    data: bytes, decode: Callable[[str | bytes], Any]
) -> tuple[Any, dict[str, str] | None]:
    """The page ``decode`` makes of ``data`` and each resource's text by its guid (the first
    of a repeated guid; None: the body holds no list of resources with guids).

    Raises what ``decode`` raises for a body that is not JSON."""
    try:
        text = data.decode("utf-8")  # once: the texts are cut out of it and it is decoded
    except UnicodeDecodeError:  # not strict UTF-8: decoded as before, each event encoded
        return decode(data), None
    body = decode(text)
    resources = body.get("resources") if type(body) is dict else None
    if type(resources) is not list or not resources:
        return body, None
    texts = _compact(text, resources)
    if texts is None:  # not CC's compact shape: walk it (values and texts from one parse)
        walked = _walk(text)
        if walked is None:
            return body, None
        body, pieces = walked
        texts = {}
        for event, piece in zip(reversed(body["resources"]), reversed(pieces), strict=True):
            guid = event.get("guid") if type(event) is dict else None
            if type(guid) is str:
                texts[guid] = piece  # reversed: the first of a repeated guid wins
    return body, texts


def _compact(text: str, resources: list[Any]) -> dict[str, str] | None:
    """The resources' texts of a compact body whose resources come last, or None.

    Resource k starts with ``{"guid":"<its guid>"`` and ends where resource k + 1 starts
    (``},{"guid":"<the next guid>"``: outside a string, as a string's quotes are escaped);
    the last one ends the list and the body (``}]}``)."""
    guids: list[Any] = [event.get("guid") if type(event) is dict else None for event in resources]
    if not all(type(guid) is str for guid in guids):
        return None
    start = text.find(f'{_HEAD}{{"guid":"{guids[0]}"')
    if start < 0:
        return None
    at = start + len(_HEAD)
    texts: dict[str, str] = {}
    find, keep = text.find, texts.setdefault  # setdefault: the first of a repeated guid wins
    for before, guid in itertools.pairwise(guids):
        end = find(f'}},{{"guid":"{guid}"', at)
        if end < 0:
            return None
        keep(before, text[at : end + 1])
        at = end + 2
    tail = text.rstrip()
    if not tail.endswith("}]}") or tail.rfind("]", at) != len(tail) - 2:
        return None
    keep(guids[-1], text[at : len(tail) - 2])
    return texts


def _skip(text: str, i: int) -> int:
    """The index of the first character at or after ``i`` that is not whitespace."""
    match = _SPACE.match(text, i)
    return match.end() if match else i


def _walk(text: str) -> tuple[dict[str, Any], list[str]] | None:
    """The body as an object and its resources' texts, by the standard library's scanner."""
    try:
        i = _skip(text, 0)
        if text[i] != "{":
            return None
        body: dict[str, Any] = {}
        pieces: list[str] | None = None
        i = _skip(text, i + 1)
        while text[i] != "}":
            if text[i] != '"':
                return None
            key, i = scanstring(text, i + 1)
            i = _skip(text, i)
            if text[i] != ":":
                return None
            i = _skip(text, i + 1)
            if key == "resources" and text[i] == "[":
                body[key], pieces, i = _walk_list(text, i)
            else:
                body[key], i = _SCAN(text, i)
            i = _skip(text, i)
            if text[i] == ",":
                i = _skip(text, i + 1)
        if pieces is None:
            return None
        return body, pieces
    except (ValueError, StopIteration, IndexError):
        return None


def _walk_list(text: str, i: int) -> tuple[list[Any], list[str], int]:
    """The list starting at ``text[i] == '['``: its items, their texts, the index after it."""
    items: list[Any] = []
    pieces: list[str] = []
    i = _skip(text, i + 1)
    if text[i] == "]":
        return items, pieces, i + 1
    while True:
        item, end = _SCAN(text, i)
        items.append(item)
        pieces.append(text[i:end])
        i = _skip(text, end)
        if text[i] == "]":
            return items, pieces, i + 1
        if text[i] != ",":
            raise ValueError(f"expected , or ] at {i}")
        i = _skip(text, i + 1)
