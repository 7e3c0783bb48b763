"""Query-string parsing and encoding the way Cloud Controller's Ruby stack does it.

CC's v3 endpoints read Rails' nested parameters (Rack 3 rules), v2 endpoints
Sinatra's, and both end up calling Ruby conversions (`String#to_i`,
`Kernel#Integer`, `Time.parse`) whose leniency clients can observe. Pagination
links are built with ActiveSupport's `Hash#to_query` (v3) or Addressable (v2).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus, unquote, unquote_plus

#: A parsed parameter: a string, nil (`key` without `=`), an array (`k[]=`) or a hash (`k[x]=`).
Value = str | None | list["Value"] | dict[str, "Value"]
Params = dict[str, Value]

_VALID_ESCAPES = re.compile(r"\A[^%]*(?:%[0-9A-Fa-f]{2}[^%]*)*\Z")
_TO_I = re.compile(r"\A[ \t\n\v\f\r]*([+-]?[0-9]+(?:_[0-9]+)*)")
_INTEGER = re.compile(
    r"\A\s*([+-]?)(0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|0[bB][01]+(?:_[01]+)*"
    r"|0[oO]?[0-7]+(?:_[0-7]+)*|0[dD][0-9]+(?:_[0-9]+)*|[1-9][0-9]*(?:_[0-9]+)*|0)\s*\Z"
)
_TIME = re.compile(
    r"\A\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*\Z"
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidParameters(Exception):
    """The query string cannot be parsed (Rails answers 400 InvalidRequest)."""


def parse_nested(query: str, strict: bool = True) -> Params:
    """Parse a query string like Rails 8 / Rack 3 (`ParamBuilder#store_nested_param`).

    A repeated plain key keeps the last value; `k[]=` builds an array, `k[x]=`
    a hash. Mixing the shapes of one key (e.g. `k=1&k[gt]=2`) and, when
    `strict`, malformed %-escapes raise `InvalidParameters`.
    """
    params: Params = {}
    for part in re.split(r"& *", query):
        if not part:
            continue
        name, sep, raw = part.partition("=")
        key = _decode(name, strict)
        value = _decode(raw, strict) if sep else None
        _store(params, key, value, 0)
    return params


def _decode(text: str, strict: bool) -> str:
    if strict and not _VALID_ESCAPES.match(text):
        raise InvalidParameters(f"invalid %-encoding ({text})")
    return unquote_plus(text, errors="replace")


def _store(params: dict[str, Value], name: str, value: Value, depth: int) -> Value:
    if depth >= 100:
        raise InvalidParameters("exceeded available parameter key space")
    if depth == 0:
        start = name.find("[", 1)
        key, after = (name[:start], name[start:]) if start > 0 else (name, "")
    elif name.startswith("[]"):
        key, after = "[]", name[2:]
    elif name.startswith("[") and (close := name.find("]", 1)) > 0:
        key, after = name[1:close], name[close + 1 :]
    else:
        key, after = name, ""
    if not key:
        return params
    if after == "":
        if key == "[]" and depth:
            return [value] if value is not None else []
        params[key] = value
    elif after == "[":
        params[name] = value
    elif after.startswith("[]"):
        current = params.setdefault(key, [])
        if not isinstance(current, list):
            raise InvalidParameters(f"expected Array for param `{key}'")
        if after == "[]":
            if value is not None:
                current.append(value)
        else:
            current.append(_store({}, after[2:], value, depth + 1))
    else:
        nested = params.setdefault(key, {})
        if not isinstance(nested, dict):
            raise InvalidParameters(f"expected Hash for param `{key}'")
        params[key] = _store(nested, after, value, depth + 1)
    return params


def ruby_to_s(value: Value) -> str:
    """`#to_s` of a parsed value: arrays and hashes come out as their `inspect`."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _inspect(value)


def _inspect(value: Value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_inspect(v) for v in value) + "]"
    return "{" + ", ".join(f"{_inspect(k)} => {_inspect(v)}" for k, v in value.items()) + "}"


def ruby_to_i(text: str) -> int:
    """Ruby `String#to_i`: the leading integer, or 0 (`"2abc"` is 2, `"abc"` is 0)."""
    match = _TO_I.match(text)
    return int(match.group(1).replace("_", "")) if match else 0


def ruby_integer(text: str) -> int:
    """Ruby `Kernel#Integer` on a string (strict; `"010"` is octal); ValueError if invalid."""
    match = _INTEGER.match(text)
    if not match:
        raise ValueError(f"invalid value for Integer(): {text!r}")
    sign, digits = match.groups()
    digits = digits.replace("_", "").lower()
    if digits.startswith(("0x", "0b", "0o", "0d")):
        base = {"x": 16, "b": 2, "o": 8, "d": 10}[digits[1]]
        number = int(digits[2:], base)
    elif digits.startswith("0") and len(digits) > 1:
        number = int(digits, 8)
    else:
        number = int(digits)
    return -number if sign == "-" else number


def ruby_time_parse(text: str) -> int:
    """A subset of Ruby `Time.parse` for ISO-8601-like input; µs since the epoch.

    Missing zone means UTC (the CC VM's zone). Out-of-range fields fail, but a
    day past the month's end rolls over as Ruby's `Time.utc` does. Raises
    ValueError when Ruby would raise ArgumentError.
    """
    match = _TIME.match(text)
    if not match:
        raise ValueError(f"no time information in {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    h, mi, s = int(hour or 0), int(minute or 0), int(second or 0)
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31 and h <= 24 and mi <= 59 and s <= 60):
        raise ValueError("argument out of range")
    if h == 24 and (mi or s):
        raise ValueError("argument out of range")
    base = datetime(int(year), int(month), 1, tzinfo=UTC)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    moment = base + timedelta(
        days=int(day) - 1, hours=h, minutes=mi, seconds=s, microseconds=micros
    )
    moment -= _zone_offset(zone)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _zone_offset(zone: str | None) -> timedelta:
    if zone is None or zone.upper() in ("Z", "UTC", "GMT"):
        return timedelta(0)
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return -offset if zone[0] == "-" else offset


def addressable_unescape(text: str) -> str:
    """`Addressable::URI.unescape`: decode %XX, leave `+` and broken escapes alone."""
    return unquote(text, errors="replace")


def to_query(params: dict[str, Value], namespace: str | None = None) -> str:
    """ActiveSupport `Hash#to_query`: CGI-escaped `key=value` pairs, sorted."""
    parts = []
    for key, value in params.items():
        name = f"{namespace}[{key}]" if namespace else key
        if isinstance(value, dict):
            if value:
                parts.append(to_query(value, name))
        elif isinstance(value, list):
            if value:
                parts.append("&".join(_pair(f"{name}[]", v) for v in value))
        else:
            parts.append(_pair(name, value))
    if "[]" not in (namespace or ""):
        parts.sort()
    return "&".join(parts)


def _pair(key: str, value: Value) -> str:
    return f"{quote_plus(key, safe='~')}={quote_plus(ruby_to_s(value), safe='~')}"


#: What Addressable's query normalisation leaves unescaped: pchar, `/` and `?`, except `&`, `;`, `+`.
_ADDRESSABLE_SAFE = "-._~!$'()*,=:@/?"


def addressable_query(params: dict[str, str | list[str]]) -> str:
    """The query Addressable builds for v2 `next_url`s: keys sorted, arrays repeated."""
    parts = []
    for key in sorted(params):
        value = params[key]
        for item in value if isinstance(value, list) else [value]:
            parts.append(
                f"{quote(key, safe=_ADDRESSABLE_SAFE)}={quote(item, safe=_ADDRESSABLE_SAFE)}"
            )
    return "&".join(parts)


def cgi_parse(query: str, key: str) -> list[str]:
    """Every value of `key` as Ruby's `CGI.parse` sees it (splits on `&` *and* `;`)."""
    values = []
    for part in re.split(r"[&;]", query):
        name, _, raw = part.partition("=")
        if unquote_plus(name) == key:
            values.append(unquote_plus(raw))
    return values
