"""`include=` and `fields[...]=`: the `included` resources CC's decorators add to a list.

- `/v3/apps?include=space|org|space.organization` (`IncludeSpaceDecorator`,
  `IncludeOrganizationDecorator`) and `/v3/spaces?include=org|organization` add the full
  spaces and organizations of the page's resources;
- `/v3/service_instances?fields[space]=name,guid&fields[service_plan]=...` (the
  `FieldServiceInstance*Decorator`s) add only the asked-for keys of the page's spaces,
  organizations, plans, offerings and brokers.

Both read the guids from the presented page, so they never disagree with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cfevents.sandbox.data import Foundation, Org, Space
    from cfevents.sandbox.messages import ListMessage

Presenter = Callable[[Any, str], dict[str, Any]]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def included_for_include(
    message: ListMessage,
    foundation: Foundation,
    base: str,
    resources: list[dict[str, Any]],
    present: tuple[Presenter, Presenter],
) -> dict[str, Any] | None:
    """`include=`: full spaces and/or organizations of the page (apps or spaces)."""
    wanted = set(message.strings("include") or [])
    if not wanted:
        return None
    present_space, present_org = present
    spaces_by_guid: dict[str, Space] = {s.guid: s for s in foundation.spaces}
    orgs_by_guid: dict[str, Org] = {o.guid: o for o in foundation.orgs}
    space_guids = _unique(
        r["relationships"]["space"]["data"]["guid"]
        for r in resources
        if "space" in r.get("relationships", {})
    )
    if space_guids:  # apps
        org_guids = _unique(spaces_by_guid[g].org_guid for g in space_guids)
    else:  # spaces
        org_guids = _unique(r["relationships"]["organization"]["data"]["guid"] for r in resources)
    included: dict[str, Any] = {}
    if wanted & {"space", "space.organization"}:
        included["spaces"] = [present_space(spaces_by_guid[g], base) for g in space_guids]
    if wanted & {"org", "organization", "space.organization"}:
        included["organizations"] = [present_org(orgs_by_guid[g], base) for g in org_guids]
    return included


def _pick(full: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The asked-for keys of `full`, in `full`'s order; `relationships.x` picks one relationship."""
    wanted = set(keys)
    picked: dict[str, Any] = {}
    for key, value in full.items():
        if key == "relationships":
            chosen = {k: v for k, v in value.items() if f"relationships.{k}" in wanted}
            if chosen:
                picked["relationships"] = chosen
        elif key in wanted:
            picked[key] = value
    return picked


def included_for_fields(
    message: ListMessage, foundation: Foundation, resources: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """`fields[resource]=keys` on service instances: those keys of the related resources."""
    fields = message.values.get("fields") if "fields" in message.requested else None
    if not isinstance(fields, dict):
        return None
    related = _related(foundation, resources)
    included: dict[str, Any] = {}
    for resource, keys in fields.items():
        name, items = related[resource]
        asked = keys if isinstance(keys, list) else [keys]
        included[name] = [_pick(item, [str(k) for k in asked]) for item in items]
    return included


def _one(guid: str, kind: str) -> dict[str, Any]:
    return {kind: {"data": {"guid": guid}}}


def _related(
    foundation: Foundation, resources: list[dict[str, Any]]
) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Per `fields` resource: its `included` key and every key of each related resource."""
    spaces = {s.guid: s for s in foundation.spaces}
    orgs = {o.guid: o for o in foundation.orgs}
    relations = [r["relationships"] for r in resources]
    space_guids = _unique(r["space"]["data"]["guid"] for r in relations)
    plan_guids = _unique(
        r["service_plan"]["data"]["guid"] for r in relations if "service_plan" in r
    )
    org_guids = _unique(spaces[g].org_guid for g in space_guids)
    return {
        "space": (
            "spaces",
            [
                {
                    "guid": g,
                    "name": spaces[g].name,
                    "relationships": _one(spaces[g].org_guid, "organization"),
                }
                for g in space_guids
            ],
        ),
        "space.organization": (
            "organizations",
            [{"name": orgs[g].name, "guid": g} for g in org_guids],
        ),
        **_related_plans(foundation, plan_guids),
    }


def _related_plans(
    foundation: Foundation, plan_guids: list[str]
) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """The plans of the page, their offerings and brokers."""
    plans = {p.guid: p for p in foundation.services.plans}
    offerings = {plans[g].offering_guid: plans[g] for g in plan_guids}
    brokers = {plans[g].broker_guid: plans[g] for g in plan_guids}
    return {
        "service_plan": (
            "service_plans",
            [
                {
                    "guid": g,
                    "name": plans[g].name,
                    "relationships": _one(plans[g].offering_guid, "service_offering"),
                }
                for g in plan_guids
            ],
        ),
        "service_plan.service_offering": (
            "service_offerings",
            [
                {
                    "name": p.offering_name,
                    "guid": g,
                    "description": f"{p.offering_name} as a service",
                    "documentation_url": None,
                    "tags": [],
                    "relationships": _one(p.broker_guid, "service_broker"),
                }
                for g, p in offerings.items()
            ],
        ),
        "service_plan.service_offering.service_broker": (
            "service_brokers",
            [{"name": p.broker_name, "guid": g} for g, p in brokers.items()],
        ),
    }
