"""Resolve org, space and app names to GUIDs (and GUIDs back to names), cached per run.

Names go through ``/v3/organizations?names=``, ``/v3/spaces?names=&organization_guids=`` and
``/v3/apps?names=&space_guids=``. A value shaped like a GUID is taken as a GUID. A name that
matches nothing is :class:`NotFoundError` (exit 4); a space or app name found in several places
is a :class:`UsageError` (exit 2) that lists them and says which flag narrows it down.
"""

from __future__ import annotations

import collections
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cfevents.cc.paging import JsonGetter, resources, v3_pages
from cfevents.errors import NotFoundError, UsageError
from cfevents.events.listing import split_commas
from cfevents.events.query import V3_MAX_PER_PAGE

GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def is_guid(value: str) -> bool:
    return bool(GUID_RE.match(value))


@dataclass(frozen=True)
class Scope:
    """GUID sets to keep; None means "no restriction"."""

    org_guids: frozenset[str] | None = None
    space_guids: frozenset[str] | None = None
    app_guids: frozenset[str] | None = None

    def is_empty(self) -> bool:
        return self.org_guids is None and self.space_guids is None and self.app_guids is None


class Resolver:
    """Name↔GUID lookups with a per-run cache."""

    def __init__(self, client: JsonGetter) -> None:
        self._client = client
        self._names: dict[tuple[str, str], str | None] = {}  # (kind, guid) -> name
        self._space_org: dict[str, str] = {}

    def _list(self, kind: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        params = [*params, ("per_page", str(V3_MAX_PER_PAGE))]
        items = list(resources(v3_pages(self._client, f"/v3/{kind}", params)))
        for item in items:
            self._names[(kind, str(item.get("guid")))] = item.get("name")
            if kind == "spaces":
                org = _rel_guid(item, "organization")
                if org:
                    self._space_org[str(item.get("guid"))] = org
        return items

    def _by_names(
        self, kind: str, names: list[str], params: list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """The orgs/spaces/apps called one of ``names``.

        CC's ``names`` filter splits on commas and has no escape, so a name holding a comma is
        found by listing (within ``params``' scope) and matching here.
        """
        plain = [n for n in names if "," not in n]
        found = self._list(kind, [("names", ",".join(plain)), *params]) if plain else []
        if len(plain) < len(names):
            wanted = {n for n in names if "," in n}
            found += [item for item in self._list(kind, params) if item.get("name") in wanted]
        return found

    def resolve_scope(
        self, orgs: Sequence[str], spaces: Sequence[str], apps: Sequence[str]
    ) -> Scope:
        """Turn ``--org/--space/--app`` values (names or GUIDs) into GUID sets."""
        org_guids = self._resolve_orgs(split_commas(orgs)) if orgs else None
        space_guids = self._resolve_spaces(split_commas(spaces), org_guids) if spaces else None
        app_guids = self._resolve_apps(split_commas(apps), space_guids, org_guids) if apps else None
        return Scope(org_guids, space_guids, app_guids)

    def _resolve_orgs(self, values: list[str]) -> frozenset[str]:
        guids = {v for v in values if is_guid(v)}
        names = [v for v in values if not is_guid(v)]
        if names:
            found = self._by_names("organizations", names, [])
            by_name = {str(o.get("name")): str(o.get("guid")) for o in found}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise NotFoundError(
                    f"no organization named {_quote_list(missing)} (visible to you)"
                )
            guids.update(by_name[n] for n in names)
        return frozenset(guids)

    def _resolve_spaces(
        self, values: list[str], org_guids: frozenset[str] | None
    ) -> frozenset[str]:
        guids = {v for v in values if is_guid(v)}
        names = [v for v in values if not is_guid(v)]
        if names:
            params = []
            if org_guids:
                params.append(("organization_guids", ",".join(sorted(org_guids))))
            found = self._by_names("spaces", names, params)
            for name in names:
                matches = [s for s in found if s.get("name") == name]
                if not matches:
                    where = " in the given org(s)" if org_guids else ""
                    raise NotFoundError(f"no space named {name!r}{where}")
                if len(matches) > 1:
                    places = ", ".join(
                        f"{name} (org {self.name('organizations', _rel_guid(s, 'organization'))})"
                        for s in matches
                    )
                    raise UsageError(
                        f"space name {name!r} is ambiguous: {places}; add --org to choose"
                    )
                guids.add(str(matches[0].get("guid")))
        return frozenset(guids)

    def _resolve_apps(
        self,
        values: list[str],
        space_guids: frozenset[str] | None,
        org_guids: frozenset[str] | None,
    ) -> frozenset[str]:
        guids = {v for v in values if is_guid(v)}
        names = [v for v in values if not is_guid(v)]
        if names:
            params = []
            if space_guids:
                params.append(("space_guids", ",".join(sorted(space_guids))))
            elif org_guids:
                params.append(("organization_guids", ",".join(sorted(org_guids))))
            found = self._by_names("apps", names, params)
            for name in names:
                matches = [a for a in found if a.get("name") == name]
                if not matches:
                    where = " in the given space(s)/org(s)" if (space_guids or org_guids) else ""
                    raise NotFoundError(f"no app named {name!r}{where}")
                if len(matches) > 1:
                    places = ", ".join(self._describe_app(a) for a in matches)
                    raise UsageError(
                        f"app name {name!r} is ambiguous: {places}; add --space (and --org) to choose"
                    )
                guids.add(str(matches[0].get("guid")))
        return frozenset(guids)

    def _describe_app(self, app: dict[str, Any]) -> str:
        space = _rel_guid(app, "space")
        space_name = self.name("spaces", space)
        org_name = self.name("organizations", self._space_org.get(space or ""))
        return f"{app.get('name')} (space {space_name} in org {org_name})"

    def name(self, kind: str, guid: str | None) -> str | None:
        """The name of an org/space/app by GUID (one lookup per GUID per run)."""
        if not guid:
            return None
        key = (kind, guid)
        if key not in self._names:
            self._names[key] = None
            self._list(kind, [("guids", guid)])
        return self._names[key]

    def preload(self, kind: str, guids: Iterable[str]) -> None:
        """Look up many names in one request (up to 5000 GUIDs)."""
        wanted = sorted({g for g in guids if g and (kind, g) not in self._names})
        for start in range(0, len(wanted), 200):
            chunk = wanted[start : start + 200]
            for g in chunk:
                self._names[(kind, g)] = None
            self._list(kind, [("guids", ",".join(chunk))])


def _rel_guid(resource: dict[str, Any], name: str) -> str | None:
    rel = ((resource.get("relationships") or {}).get(name) or {}).get("data") or {}
    guid = rel.get("guid") if isinstance(rel, dict) else None
    return str(guid) if guid else None


def _quote_list(items: Sequence[str]) -> str:
    return ", ".join(repr(i) for i in items)


def org_namer(resolver: Resolver) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function filling in a usage event's ``organization.name`` (CC sends only the GUID).

    Each org GUID is looked up once (``/v3/organizations?guids=``) the first time it is seen
    and cached in ``resolver``; nothing is read ahead, so an export's checkpoint still
    commits only events already written.
    """

    def fill(event: dict[str, Any]) -> dict[str, Any]:
        org = event.get("organization")
        if isinstance(org, dict):
            guid = org.get("guid")
            org["name"] = resolver.name("organizations", guid) if isinstance(guid, str) else None
        return event

    return fill


def org_names_page(resolver: Resolver) -> Callable[[list[dict[str, Any]]], None]:
    """:func:`org_namer` for a whole page (an export): each org GUID of the page is looked up
    once, in the order first seen (the same requests as event by event, cached across pages),
    so a row costs a dict lookup, not a call."""

    def fill(events: list[dict[str, Any]]) -> None:
        orgs = list(map(_ORG, events))
        if set(map(type, orgs)) <= _DICT_ONLY:  # the common page: set every name in C
            guids = list(map(_GUID, orgs))
            if set(map(type, guids)) <= _STR_ONLY:
                found = {g: resolver.name("organizations", g) for g in dict.fromkeys(guids)}
                collections.deque(
                    map(dict.__setitem__, orgs, itertools.repeat("name"), map(found.get, guids)),
                    maxlen=0,
                )
                return
        names: dict[str, str | None] = {}
        for event in events:
            org = event.get("organization")
            if isinstance(org, dict):
                guid = org.get("guid")
                if not isinstance(guid, str):
                    org["name"] = None
                elif guid in names:
                    org["name"] = names[guid]
                else:
                    org["name"] = names[guid] = resolver.name("organizations", guid)

    return fill


def page_org_names(pages: Iterable[dict[str, Any]], resolver: Resolver) -> Iterator[dict[str, Any]]:
    """The pages as they come, each page's new org GUIDs looked up in one request when it
    arrives (cached in ``resolver`` for :func:`org_namer`): a table that lays out a whole page
    before its first line waits for one lookup, not one per org."""
    for page in pages:
        orgs = (r.get("organization") for r in page.get("resources") or () if isinstance(r, dict))
        resolver.preload(
            "organizations", (o["guid"] for o in orgs if isinstance(o, dict) and _is_guid(o))
        )
        yield page


def _is_guid(org: dict[str, Any]) -> bool:
    return isinstance(org.get("guid"), str)


_ORG = operator.methodcaller("get", "organization")
_GUID = operator.methodcaller("get", "guid")
_DICT_ONLY = frozenset({dict})
_STR_ONLY = frozenset({str})


def with_names(
    records: Iterable[dict[str, Any]], resolver: Resolver, chunk: int = 200
) -> Iterator[dict[str, Any]]:
    """Fill ``space.name`` and ``organization.name``: one lookup per chunk of new GUIDs."""
    it = iter(records)
    while batch := list(itertools.islice(it, chunk)):
        resolver.preload("spaces", (r["space"]["guid"] for r in batch if r["space"]["guid"]))
        resolver.preload(
            "organizations",
            (r["organization"]["guid"] for r in batch if r["organization"]["guid"]),
        )
        for record in batch:
            record["space"]["name"] = resolver.name("spaces", record["space"]["guid"])
            record["organization"]["name"] = resolver.name(
                "organizations", record["organization"]["guid"]
            )
            yield record
