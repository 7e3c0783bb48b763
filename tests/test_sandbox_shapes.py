"""Every payload the sandbox serves has Cloud Controller's shape (tests/sandbox_shapes.py), both
ways: nothing CC always sends is missing, nothing the sandbox adds is unknown to CC. And the
check bites: one key removed or added anywhere makes it fail."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox_shapes import Schema, build_schemas, shape

SCHEMAS = build_schemas()


def pages(sb, path: str, size: str) -> Iterator[dict[str, Any]]:
    """Every page of a v3 (`pagination.next`) or v2 (`next_url`) list."""
    headers = {"Authorization": sb.admin_token()}
    url: str | None = f"{sb.url}{path}{'&' if '?' in path else '?'}{size}"
    while url:
        reply = requests.get(url, headers=headers, timeout=60)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        yield page
        if "pagination" in page:
            nxt = page["pagination"]["next"]
            url = nxt and sb.url + nxt["href"].split("/v3", 1)[1].join(["/v3", ""])
        else:
            url = page["next_url"] and sb.url + page["next_url"]


def get(sb, path: str, status: int = 200) -> Any:
    reply = requests.get(sb.url + path, headers={"Authorization": sb.admin_token()}, timeout=60)
    assert reply.status_code == status, reply.text
    return reply.json()


V3_LISTS = {
    "/v3/app_usage_events": "v3_app_usage_event",
    "/v3/audit_events": "v3_audit_event",
    "/v3/organizations": "organization",
    "/v3/spaces": "space",
    "/v3/apps": "app",
    "/v3/processes": "process",
    "/v3/tasks": "task",
    "/v3/service_instances": "service_instance",
    "/v3/service_usage_events": "service_usage_event",
}
V2_LISTS = {"/v2/app_usage_events": "v2_app_usage_event", "/v2/events": "v2_event"}


def kind_of(kind: str, resource: dict[str, Any]) -> str:
    if kind == "service_instance":
        return f"service_instance_{resource['type'].replace('-', '_')}"
    return kind


def served(sb) -> Iterator[tuple[str, str, Any]]:
    """(kind, where, payload) for everything the sandbox serves: each list's pages and every
    resource on them, one GET of each resource kind, the root documents and errors."""
    yield "root", "/", get(sb, "/")
    yield "v3_root", "/v3", get(sb, "/v3")
    yield "v2_info", "/v2/info", get(sb, "/v2/info")
    yield "v3_error", "422", get(sb, "/v3/app_usage_events?per_page=0", 422)
    yield "v3_error", "404", get(sb, "/v3/apps/nope", 404)
    for path, kind in V3_LISTS.items():
        resources = []
        for page in pages(sb, path, "per_page=5000"):
            yield "v3_page", path, page
            resources += page["resources"]
        assert resources, path
        for r in resources:
            yield kind_of(kind, r), path, r
        one = get(sb, f"{path}/{resources[-1]['guid']}")
        yield kind_of(kind, one), f"{path}/:guid", one
    for path, kind in V2_LISTS.items():
        resources = []
        for page in pages(sb, path, "results-per-page=100"):
            yield "v2_page", path, page
            resources += page["resources"]
        assert resources, path
        for r in resources:
            yield kind, path, r
        yield kind, f"{path}/:guid", get(sb, f"{path}/{resources[-1]['metadata']['guid']}")


@pytest.fixture(scope="module")
def payloads(sandbox):
    return list(served(sandbox))


def test_every_sandbox_payload_has_cc_shape(payloads):
    problems: dict[str, int] = {}
    examples: dict[str, str] = {}
    for kind, where, payload in payloads:
        for problem in SCHEMAS[kind].problems(payload):
            problems[problem] = problems.get(problem, 0) + 1
            examples.setdefault(problem, where)
    assert not problems, "\n".join(f"{p} ({n}x, e.g. {examples[p]})" for p, n in problems.items())
    kinds = {kind for kind, _, _ in payloads}
    assert kinds == set(SCHEMAS)  # every kind CC has samples of is served and was checked


def _paths(payload: Any) -> list[str]:
    return sorted(p for p in shape(payload) if p)


def _remove(payload: Any, path: str) -> Any:
    """A copy without the key at `path` (in every list item it goes through)."""
    changed = copy.deepcopy(payload)
    *steps, last = path.split(".")

    def walk(node: Any, rest: list[str]) -> None:
        if not rest:
            if isinstance(node, dict):
                node.pop(last.removesuffix("[]"), None)
            return
        step, *more = rest
        child = node.get(step.removesuffix("[]")) if isinstance(node, dict) else None
        for item in child if step.endswith("[]") and isinstance(child, list) else [child]:
            if item is not None:
                walk(item, more)

    walk(changed, steps)
    return changed


def test_removing_or_adding_one_key_fails_the_check(payloads):
    """For every kind: each key CC always sends, removed, is reported missing; one key CC never
    sends, added at the top and inside a nested object, is reported unknown."""
    seen = set()
    for kind, _, payload in payloads:
        if kind in seen:
            continue
        seen.add(kind)
        schema: Schema = SCHEMAS[kind]
        assert not schema.problems(payload)
        required = [p for p in _paths(payload) if p in schema.required and not p.endswith("[]")]
        assert required, kind
        for path in required:
            problems = schema.problems(_remove(payload, path))
            assert any(f"missing {path!r}" in p for p in problems), (kind, path)
        added = copy.deepcopy(payload)
        added["sandbox_only"] = 1
        assert "unknown key path 'sandbox_only'" in " ".join(schema.problems(added)), kind
        nested = next((p for p in required if "object" in shape(payload)[p]), None)
        if nested is not None:
            deeper = copy.deepcopy(payload)
            node = deeper
            for step in nested.split("."):
                node = node[step]
            node["sandbox_only"] = None
            assert f"unknown key path '{nested}.sandbox_only'" in " ".join(
                schema.problems(deeper)
            ), kind
    assert seen == set(SCHEMAS)


def test_a_type_cc_never_sends_fails_the_check(payloads):
    kind, _, process = next(p for p in payloads if p[0] == "process")
    wrong = copy.deepcopy(process)
    wrong["instances"] = str(wrong["instances"])
    assert "'instances' is ['str'], CC sends ['int']" in " ".join(SCHEMAS[kind].problems(wrong))
    # 0.2.0's `revision: {"data": null}`: CC sends null, never an object without data
    old = copy.deepcopy(process)
    old["relationships"]["revision"] = {"data": None}
    assert SCHEMAS[kind].problems(old)
