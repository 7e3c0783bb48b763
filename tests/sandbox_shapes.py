"""Hold a sandbox payload against Cloud Controller's real payloads, key path by key path.

A *shape* is every key path of a JSON value with the types seen there: `links.self.href` ->
{"str"}, `tags[]` for the items of a list. A kind's schema comes from CC's samples of it
(tests/fixtures/cc-samples/, copies of ../shared/reference/cc-samples/, and
tests/fixtures/cc-resources/, taken from CC's docs and source; each INDEX.md names the source):

- *required*: the paths every sample has (what CC always sends);
- *known*: the paths any sample has;
- the types each path had.

A sandbox payload has a problem when a required path is missing (under an object it has), when
it has a path no sample has, or when a path's type is one CC never sent there. A `null` is
accepted where CC sent a string or a number (nullable columns); where CC sent an object or a list,
only if `NULLABLE` names the presenter code that sends null there; where every sample has null,
a scalar is accepted (the samples left a nullable column empty). `OPTIONAL` names the keys
every sample has but CC leaves out under a condition. Maps whose keys are data
(labels, annotations, audit `data`, v2 `metadata`, a lifecycle's `data`) are compared as objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = FIXTURES / "cc-samples"
RESOURCES = FIXTURES / "cc-resources"

#: Paths whose object keys are data, not shape.
OPAQUE = {
    "metadata.labels",
    "metadata.annotations",
    "data",
    "entity.metadata",
    "broker_provided_metadata",
    "lifecycle.data",
    "custom",
    "resources",  # in a page's envelope: the resources are checked one by one
}
#: (kind, path) where CC sends null instead of the object its samples show, and why.
NULLABLE = {
    ("process", "relationships.revision"): "ProcessPresenter#revision: "
    "`process.revision_guid && {data: {guid: ...}}` is nil without revisions",
    **{
        ("root", f"links.{name}"): f"runtime/root_controller.rb: {name}_link returns nil "
        "when that component is not configured"
        for name in ("credhub", "routing", "logging", "log_cache", "log_stream")
    },
}
#: (kind, path) that every sample has but CC leaves out under a condition, and the condition.
OPTIONAL = {
    ("service_instance_managed", "broker_provided_metadata"): "ServiceInstancePresenter: "
    "`base_hash[:broker_provided_metadata] = ... if ....present?`",
}
SCALARS = {"str", "int", "float", "bool"}


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "array"
    return "object"


def shape(
    value: Any, path: str = "", out: dict[str, set[str]] | None = None
) -> dict[str, set[str]]:
    """Every key path of `value` with its types (the root is the path "")."""
    out = {} if out is None else out
    out.setdefault(path, set()).add(type_name(value))
    if path in OPAQUE:
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            shape(item, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        for item in value:
            shape(item, f"{path}[]", out)
    return out


def parent(path: str) -> str:
    if path.endswith("[]"):
        return path[:-2]
    return path.rpartition(".")[0]


@dataclass(frozen=True)
class Schema:
    kind: str
    required: frozenset[str]
    types: dict[str, frozenset[str]]

    @classmethod
    def of(cls, kind: str, samples: Iterable[Any]) -> Schema:
        shapes = [shape(s) for s in samples]
        assert shapes, f"no CC sample of {kind}"
        required = frozenset.intersection(*(frozenset(s) for s in shapes))
        types: dict[str, set[str]] = {}
        for s in shapes:
            for path, kinds in s.items():
                types.setdefault(path, set()).update(kinds)
        return cls(kind, required, {p: frozenset(t) for p, t in types.items()})

    def problems(self, value: Any) -> list[str]:
        """What in `value` CC would not send (empty when it has CC's shape)."""
        got = shape(value)
        found = []
        for path in sorted(self.required - got.keys()):
            if got.get(parent(path)) == {"object"} and (self.kind, path) not in OPTIONAL:
                found.append(f"{self.kind}: missing {path!r} (CC always sends it)")
        for path, kinds in sorted(got.items()):
            if path not in self.types:
                found.append(f"{self.kind}: unknown key path {path!r} (no CC sample has it)")
                continue
            extra = kinds - self.types[path]
            if extra == {"null"} and (self.types[path] & SCALARS or (self.kind, path) in NULLABLE):
                continue  # a nullable column, or a presenter that sends null there
            if self.types[path] == {"null"} and extra <= SCALARS:
                continue  # a nullable column every sample happened to leave empty
            if extra:
                found.append(
                    f"{self.kind}: {path!r} is {sorted(extra)}, CC sends {sorted(self.types[path])}"
                )
        return found


def body(name: str) -> Any:
    path = SAMPLES / name if (SAMPLES / name).exists() else RESOURCES / name
    return json.loads(path.read_text())["body"]


def resources_of(name: str) -> list[Any]:
    """The resources of a sample: a v2 or v3 page's resources, or the one resource it is."""
    value = body(name)
    if isinstance(value, dict) and isinstance(value.get("resources"), list):
        return list(value["resources"])
    return [value]


def names(pattern: str) -> list[str]:
    found = sorted(p.name for d in (SAMPLES, RESOURCES) for p in d.glob(pattern))
    assert found, pattern
    return found


def _v3_list_samples() -> list[str]:
    return [n for n in names("*.json") if isinstance(body(n).get("pagination"), dict)]


def _v2_list_samples() -> list[str]:
    return [n for n in names("*.json") if "next_url" in body(n)]


def build_schemas() -> dict[str, Schema]:
    """Every kind the sandbox serves, from CC's samples of it."""
    si = [r for n in names("ccng_docs_v3_*service_instance*.json") for r in resources_of(n)]
    sources: dict[str, list[Any]] = {
        "root": [body("ccng_docs_v3_global_root.json")],
        "v3_root": [body("ccng_docs_v3_root.json"), body("ccng_source_v3_root.json")],
        "v2_info": [
            body(n)
            for n in ("ccng_docs_v2_info__get_info_0.json", *names("ccng_source_v2_info*.json"))
        ],
        "v3_page": [body(n) for n in _v3_list_samples()],
        "v2_page": [body(n) for n in _v2_list_samples()],
        "v3_error": [body("cli_test_v3_error_multi.json")],
        "v3_app_usage_event": [
            r
            for n in (
                *names("ccng_docs_v3_app_usage_event*.json"),
                "ccng_spec_v3_app_usage_events_factory_and_task.json",
                "gocf_template_v3_app_usage_event.json",
            )
            for r in resources_of(n)
        ],
        "v3_audit_event": [
            r
            for n in (
                *names("ccng_docs_v3_audit_event*.json"),
                *names("ccng_spec_v3_audit_event*.json"),
                *names("cfpy_fixture_v3_audit_event*.json"),
                "cli_test_v3_audit_events_page.json",
                "gocf_template_v3_audit_event.json",
            )
            for r in resources_of(n)
        ],
        "v2_app_usage_event": [
            r for n in names("ccng_docs_v2_app_usage_events__*.json") for r in resources_of(n)
        ],
        "v2_event": [
            r
            for n in (
                *names("ccng_docs_v2_events__*.json"),
                "cfpy_fixture_v2_events_route_delete.json",
            )
            for r in resources_of(n)
        ],
        "organization": [
            r
            for n in (
                "ccng_docs_v3_organization.json",
                "ccng_docs_v3_paginated_list_of_organizations.json",
            )
            for r in resources_of(n)
        ],
        "space": [
            r
            for n in ("ccng_docs_v3_space.json", "ccng_docs_v3_paginated_list_of_spaces.json")
            for r in resources_of(n)
        ],
        "app": [
            r for n in names("ccng_docs_v3_*app*.json") if "usage" not in n for r in resources_of(n)
        ],
        "process": [r for n in names("ccng_docs_v3_*process*.json") for r in resources_of(n)],
        "task": [r for n in names("ccng_docs_v3_*task*.json") for r in resources_of(n)],
        "service_instance_managed": [r for r in si if r["type"] == "managed"],
        "service_instance_user_provided": [r for r in si if r["type"] == "user-provided"],
        "service_usage_event": [
            r for n in names("ccng_docs_v3_*service_usage_event*.json") for r in resources_of(n)
        ],
    }
    return {kind: Schema.of(kind, samples) for kind, samples in sources.items()}
