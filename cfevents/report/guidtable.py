"""A compact map from guid to a few integers, for the records the engine keeps of every
stopped process and ended task (they grow with the events, not with what is live).

A dict keyed by a 36-character guid str spends ~85 bytes on the key alone and ~120 more on
a tuple of ints; a month of a busy foundation has tens of thousands of such records. Here a
canonical guid (lowercase ``8-4-4-4-12`` hex, what Cloud Controller writes) is kept as its 16
bytes followed by its fields packed as unsigned 32-bit ints: one fixed-size record in one of
:data:`BUCKETS` bytearrays (chosen by the guid's value), found by a C-speed search for its
bytes. Records are appended and removed in place: nothing is copied in bulk, so the memory
is the records plus a few bytes each, with no transient copies. Anything else (a key that is
not a canonical guid, such as ``app:web``, or a field that is not an int in 0..2**32-1, such
as ``None``) is kept as given in a plain dict, so the map is exact for every key and value.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, MutableMapping
from typing import Any, cast

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
BUCKETS = 1021  # a prime: consecutive guids spread over the buckets too
_KEY = 16  # bytes of a guid
_FIELD_MAX = (1 << 32) - 1
_MISSING: Any = object()

Record = tuple[int | None, ...]


def guid_bits(key: str) -> int | None:
    """A canonical guid's 128 bits; ``None`` for any other key."""
    if type(key) is str and len(key) == 36 and _GUID.fullmatch(key):
        return int(key.replace("-", ""), 16)
    return None


def guid_text(bits: int) -> str:
    """The canonical guid of :func:`guid_bits` (its exact inverse)."""
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class GuidTable(MutableMapping[str, Record]):
    """guid -> a record of ``width`` ints; iteration order is unspecified."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._fields = struct.Struct(f">{width}I")
        self._size = _KEY + self._fields.size  # bytes of one record
        self._buckets: list[bytearray | None] = [None] * BUCKETS
        self._packed = 0  # records in the buckets
        self._odd: dict[str, Record] = {}  # everything else, as given

    def _pack(self, record: Record) -> bytes | None:
        """The record's fields as bytes, or ``None`` if they do not fit."""
        if len(record) != self.width:
            return None
        for value in record:
            if type(value) is not int or not 0 <= value <= _FIELD_MAX:
                return None
        return self._fields.pack(*record)

    def _locate(self, key: str) -> tuple[int, int, bytes]:
        """A canonical guid's bucket, its record's offset there (-1: absent) and its 16
        bytes; (-1, -1, b"") for any other key."""
        bits = guid_bits(key)
        if bits is None:
            return -1, -1, b""
        raw = bits.to_bytes(_KEY, "big")
        index = bits % BUCKETS
        bucket = self._buckets[index]
        if bucket is None:
            return index, -1, raw
        size = self._size
        at = bucket.find(raw)
        while at >= 0 and at % size:  # matched across two records: look further
            at = bucket.find(raw, at + 1)
        return index, at, raw

    def _read(self, index: int, at: int) -> Record:
        return self._fields.unpack_from(self._buckets[index] or b"", at + _KEY)

    # --- the mapping -----------------------------------------------------------------------

    def get(self, key: str, default: Record | None = None) -> Record | None:  # type: ignore[override]
        index, at, _raw = self._locate(key)
        if at >= 0:
            return self._read(index, at)
        return self._odd.get(key, default) if self._odd else default

    def __getitem__(self, key: str) -> Record:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return self.get(cast(str, key)) is not None  # any hashable, as a dict's keys

    def __setitem__(self, key: str, record: Record) -> None:
        index, at, raw = self._locate(key)
        packed = self._pack(record) if index >= 0 else None
        if packed is None:
            if at >= 0:
                self._remove(index, at)
            self._odd[key] = record
            return
        if self._odd:
            self._odd.pop(key, None)
        bucket = self._buckets[index]
        if bucket is None:
            bucket = self._buckets[index] = bytearray()
        if at >= 0:
            bucket[at + _KEY : at + self._size] = packed
        else:
            bucket += raw + packed
            self._packed += 1

    def _remove(self, index: int, at: int) -> None:
        """Drop the record at ``at``: the bucket's last record takes its place."""
        bucket = self._buckets[index] or bytearray()
        last = len(bucket) - self._size
        if at != last:
            bucket[at : at + self._size] = bucket[last:]
        del bucket[last:]
        self._packed -= 1

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        index, at, _raw = self._locate(key)
        if at >= 0:
            found = self._read(index, at)
            self._remove(index, at)
            return found
        if key in self._odd:
            return self._odd.pop(key)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __iter__(self) -> Iterator[str]:
        yield from self._odd
        size = self._size
        for bucket in self._buckets:
            if bucket is not None:
                for at in range(0, len(bucket), size):
                    yield guid_text(int.from_bytes(bucket[at : at + _KEY], "big"))

    def __len__(self) -> int:
        return self._packed + len(self._odd)
