"""A :class:`~cfevents.report.api.ReportSource` over anything with ``get_json(target, params)``.

It needs nothing of the HTTP client but that one method (CFClient has it), so the client's
module layout can change freely. ``events`` may be replaced by a faster reader (the export's
keyset pages with read-ahead); the default pages by keyset with plain ``get_json`` calls.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from cfevents.report.opening import Snapshot
from cfevents.timeparse import format_cc

PER_PAGE = 5000
ORG_CHUNK = 50
USAGE_EVENTS = "/v3/app_usage_events"


class GetsJson(Protocol):
    def get_json(self, target: str, params: list[tuple[str, str]] | None = None) -> Any: ...


def _all(client: GetsJson, path: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every resource of a v3 list, following ``pagination.next.href``."""
    out: list[dict[str, Any]] = []
    body = client.get_json(path, [*params, ("per_page", str(PER_PAGE))])
    while True:
        items = body.get("resources") or []
        out.extend(items)
        nxt = (body.get("pagination") or {}).get("next")
        href = nxt.get("href") if isinstance(nxt, dict) else None
        if not href or not items:
            return out
        body = client.get_json(href)


def keyset_events(client: GetsJson, start: datetime) -> Iterator[dict[str, Any]]:
    """Usage events with ``created_at >= start`` in id order, page by page (``after_guid``)."""
    base = [("created_ats[gte]", format_cc(start))]
    cursor: str | None = None
    while True:
        params = [*base, *([("after_guid", cursor)] if cursor else [])]
        body = client.get_json(USAGE_EVENTS, [*params, ("page", "1"), ("per_page", str(PER_PAGE))])
        items = body.get("resources") or []
        more = len(items) >= PER_PAGE and bool((body.get("pagination") or {}).get("next"))
        del body
        yield from items
        if not more:
            return
        cursor = str(items[-1]["guid"])
        del items  # let page N go before page N+1 is decoded


class CloudControllerSource:
    """Reads the snapshot, the oldest event, the events and org names from CC."""

    def __init__(
        self,
        client: GetsJson,
        foundation: str,
        *,
        events: Callable[[datetime], Iterable[Mapping[str, Any]]] | None = None,
    ) -> None:
        self.client = client
        self._foundation = foundation
        self._events = events

    @property
    def foundation(self) -> str:
        return self._foundation

    def snapshot(self) -> Snapshot:
        return Snapshot(
            apps=_all(self.client, "/v3/apps", []),
            processes=_all(self.client, "/v3/processes", []),
            tasks=_all(self.client, "/v3/tasks", [("states", "RUNNING")]),
            spaces=_all(self.client, "/v3/spaces", []),
        )

    def oldest_event(self) -> Mapping[str, Any] | None:
        body = self.client.get_json(USAGE_EVENTS, [("page", "1"), ("per_page", "1")])
        items = body.get("resources") or []
        return items[0] if items else None

    def knows_event(self, guid: str) -> bool:
        """Whether CC still has the usage event ``guid`` (a state file's last event): a 404
        means pruned or purged, so a chain from that state can no longer be proven whole."""
        from urllib.parse import quote

        from cfevents.errors import ApiError, NotFoundError

        try:
            self.client.get_json(f"{USAGE_EVENTS}/{quote(guid, safe='')}", [])
        except NotFoundError:
            return False
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def events_since(self, start: datetime) -> Iterable[Mapping[str, Any]]:
        if self._events is not None:
            return self._events(start)
        return keyset_events(self.client, start)

    def org_names(self, guids: Collection[str]) -> Mapping[str, str]:
        names: dict[str, str] = {}
        ordered = sorted(guids)
        for i in range(0, len(ordered), ORG_CHUNK):
            chunk = ordered[i : i + ORG_CHUNK]
            for org in _all(self.client, "/v3/organizations", [("guids", ",".join(chunk))]):
                if org.get("guid") and org.get("name") is not None:
                    names[str(org["guid"])] = str(org["name"])
        return names
