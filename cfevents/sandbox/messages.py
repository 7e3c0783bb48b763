"""v3 list messages: CC's `ListMessage` subclasses, their validation and echo.

Each endpoint declares a `ListSpec`; `ListMessage` reproduces
`BaseMessage.from_params` (comma lists, one more unescape), the validators in
the order ActiveModel runs them (so joined error text matches), the fetcher's
timestamp windows, and `to_param_hash` for pagination links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cfevents.sandbox.errors import UnknownError
from cfevents.sandbox.params import (
    Params,
    Value,
    addressable_unescape,
    ruby_time_parse,
    ruby_to_i,
    ruby_to_s,
)
from cfevents.sandbox.store import SECOND_US

PAGINATION_KEYS = ("page", "per_page", "order_by")
LIST_KEYS = (*PAGINATION_KEYS, "created_ats", "updated_ats", "guids")
TIMESTAMP = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\n?\Z")
OPERATORS = ("lt", "lte", "gt", "gte")
_SPLIT = re.compile(r",[ \t\r\n\f\v]*")
PER_PAGE_DEFAULT = 50


@dataclass(frozen=True, slots=True)
class ListSpec:
    """What one list endpoint accepts."""

    extra_keys: tuple[str, ...]
    order_by: tuple[str, ...] = ("created_at", "updated_at")
    disallow_updated_ats: bool = False
    target_guids: bool = False
    #: Keys `from_params` leaves as they are (`type`, the `fields` hash).
    single_keys: tuple[str, ...] = ()
    #: A `MetadataListMessage`: `label_selector` is allowed (registered after the others).
    label_selector: bool = False
    #: `IncludeParamValidator`'s valid values (`include` is then one of `extra_keys`).
    includes: tuple[str, ...] = ()
    #: `validates :type, inclusion:` values.
    types: tuple[str, ...] = ()
    #: `FieldsValidator`'s allowed resources and their keys.
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Allowed keys, in the order the "Valid parameters are" text lists them."""
        selector = ("label_selector",) if self.label_selector else ()
        return LIST_KEYS + self.single_keys + self.extra_keys + selector

    @property
    def array_keys(self) -> tuple[str, ...]:
        """Keys `from_params` splits on commas."""
        return ("created_ats", "updated_ats", "guids", *self.extra_keys)


USAGE_EVENTS = ListSpec(("after_guid",), order_by=("created_at",), disallow_updated_ats=True)
SERVICE_USAGE_EVENTS = ListSpec(
    ("after_guid", "service_instance_types", "service_offering_guids"),
    order_by=("created_at",),
    disallow_updated_ats=True,
)
SERVICE_INSTANCES = ListSpec(
    ("names", "space_guids", "organization_guids", "service_plan_guids", "service_plan_names"),
    order_by=("created_at", "updated_at", "name"),
    single_keys=("type", "fields"),
    label_selector=True,
    types=("managed", "user-provided"),
    fields=(
        ("space", ("guid", "name", "relationships.organization")),
        ("space.organization", ("name", "guid")),
        ("service_plan", ("guid", "name", "relationships.service_offering")),
        (
            "service_plan.service_offering",
            (
                "name",
                "guid",
                "description",
                "documentation_url",
                "tags",
                "relationships.service_broker",
            ),
        ),
        ("service_plan.service_offering.service_broker", ("name", "guid")),
    ),
)
AUDIT_EVENTS = ListSpec(
    ("types", "target_guids", "space_guids", "organization_guids"), target_guids=True
)
ORGANIZATIONS = ListSpec(
    ("names",), order_by=("created_at", "updated_at", "name"), label_selector=True
)
SPACES = ListSpec(
    ("names", "organization_guids", "include"),
    order_by=("created_at", "updated_at", "name"),
    label_selector=True,
    includes=("org", "organization"),
)
APPS = ListSpec(
    ("names", "organization_guids", "space_guids", "include"),
    order_by=("created_at", "updated_at", "name", "state"),
    label_selector=True,
    includes=("space", "org", "space.organization"),
)
PROCESSES = ListSpec(
    ("types", "app_guids", "space_guids", "organization_guids"), label_selector=True
)
TASKS = ListSpec(
    ("names", "states", "app_guids", "space_guids", "organization_guids"), label_selector=True
)


def _present(value: Value) -> bool:
    """Rails `present?`: not nil, not blank, not empty."""
    return bool(value.strip()) if isinstance(value, str) else bool(value)


def _to_array(value: Value) -> Value:
    """`BaseMessage.to_array!`: split on `,\\s*` and unescape each item once more."""
    if value is None or isinstance(value, dict):
        return value
    if value == "":
        return [""]
    return [addressable_unescape(item) for item in _SPLIT.split(ruby_to_s(value))]


def _humanize(attribute: str) -> str:
    return attribute.replace("_", " ").capitalize()


class ListMessage:
    """A parsed and validated v3 list query."""

    def __init__(self, spec: ListSpec, params: Params) -> None:
        self.spec = spec
        self.requested = list(params)
        self.extra = [k for k in params if k not in spec.keys]
        self.values: dict[str, Value] = {}
        for key in spec.keys:
            if key in params:
                value = params[key]
                if isinstance(value, dict):
                    value = _hash_of_arrays(key, value, spec)
                elif key in spec.array_keys:
                    value = _to_array(value)
                self.values[key] = value
        self.page = self._pagination_int("page", 1)
        self.per_page = self._pagination_int("per_page", PER_PAGE_DEFAULT)
        self.order_column, self.descending, self.ordering_configured = self._order()

    def _pagination_int(self, key: str, default: int) -> int:
        value = self.values.get(key)
        if not _present(value):
            return default
        if not isinstance(value, str):
            raise UnknownError(f"undefined method 'to_i' for {key}")
        return ruby_to_i(value)

    def _order(self) -> tuple[str, bool, bool]:
        value = self.values.get("order_by")
        if not _present(value):
            return "id", False, False
        if not isinstance(value, str):
            raise UnknownError("undefined method 'match?' for order_by")
        if value[0] in "+-":
            return value[1:], value[0] == "-", True
        return value, False, True

    # -- validation ------------------------------------------------------------

    def errors(self) -> list[str]:
        """Full messages of every failed validation, in ActiveModel's order."""
        errors: list[str] = []
        self._validate_pagination(errors)
        for key in ("created_ats", "updated_ats"):
            if self.values.get(key) is not None:
                self._validate_timestamps(key, errors)
        self._validate_arrays(("guids",), errors)
        if self.spec.label_selector and "label_selector" in self.requested:
            errors.extend(label_selector_errors(self.values.get("label_selector")))
        if self.extra:
            unknown = "', '".join(self.extra)
            valid = "', '".join(self.spec.keys)
            errors.append(
                f"Unknown query parameter(s): '{unknown}'. Valid parameters are: '{valid}'"
            )
        if self.spec.disallow_updated_ats and "updated_ats" in self.requested:
            errors.append("Filtering by 'updated_ats' is not allowed on this resource.")
        if self.spec.target_guids:
            self._validate_target_guids(errors)
        if self.spec.includes and "include" in self.requested:
            errors.extend(include_errors(self.values.get("include"), self.spec.includes))
        self._validate_single_keys(errors)
        self._validate_arrays(tuple(k for k in self.spec.extra_keys if k != "target_guids"), errors)
        return errors

    def _validate_single_keys(self, errors: list[str]) -> None:
        """`validates :type, inclusion:` and `validates :fields, fields:` (allow_nil)."""
        kind = self.values.get("type")
        if self.spec.types and kind is not None and kind not in self.spec.types:
            allowed = ", ".join(f"'{t}'" for t in self.spec.types)
            errors.append(f"Type must be one of {allowed}")
        fields = self.values.get("fields")
        if not self.spec.fields or fields is None:
            return
        if not isinstance(fields, dict):
            errors.append("Fields must be an object")
            return
        allowed_fields = dict(self.spec.fields)
        for resource, keys in fields.items():
            valid = allowed_fields.get(resource)
            if valid is None:
                names = ", ".join(f"'{r}'" for r in allowed_fields)
                errors.append(f"Fields [{resource}] valid resources are: {names}")
            elif not set(keys if isinstance(keys, list) else [ruby_to_s(keys)]) <= set(valid):
                names = ", ".join(f"'{k}'" for k in valid)
                errors.append(f"Fields valid keys for '{resource}' are: {names}")

    def _validate_pagination(self, errors: list[str]) -> None:
        page, per_page = self.values.get("page"), self.values.get("per_page")
        if page is not None and ruby_to_i(ruby_to_s(page)) <= 0:
            errors.append("Page must be a positive integer")
        if per_page is not None:
            size = ruby_to_i(ruby_to_s(per_page))
            if size <= 0:
                errors.append("Per page must be a positive integer")
            elif size > 5000:
                errors.append("Per page must be between 1 and 5000")
        order_by = self.values.get("order_by")
        if _present(order_by):
            columns = "|".join(self.spec.order_by)
            if not re.fullmatch(rf"[+-]?(?:{columns})", ruby_to_s(order_by)):
                allowed = ", ".join(f"'{c}'" for c in self.spec.order_by)
                errors.append(f"Order by can only be: {allowed}")

    def _validate_timestamps(self, key: str, errors: list[str]) -> None:
        label = _humanize(key)
        value = self.values[key]
        bad_format = f"{label} has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'"
        if isinstance(value, list):
            errors.extend(bad_format for stamp in value if not TIMESTAMP.match(ruby_to_s(stamp)))
            return
        if not isinstance(value, dict):
            errors.append(f"{label} relational operator and timestamp must be specified")
            return
        for operator, stamp in value.items():
            if operator not in OPERATORS:
                errors.append(f"{label} Invalid relational operator: '{operator}'")
            if "," in ruby_to_s(stamp):
                errors.append(f"{label} only accepts one value when using a relational operator")
            elif not TIMESTAMP.match(ruby_to_s(stamp)):
                errors.append(bad_format)

    def _validate_arrays(self, keys: tuple[str, ...], errors: list[str]) -> None:
        for key in keys:
            value = self.values.get(key)
            if value is not None and not isinstance(value, list):
                errors.append(f"{_humanize(key)} must be an array")
            elif key == "after_guid" and value is not None and len(value) != 1:
                errors.append("After guid filter accepts only one guid")

    def _validate_target_guids(self, errors: list[str]) -> None:
        value = self.values.get("target_guids")
        if isinstance(value, dict):
            excluded = value.get("not")
            if _present(excluded):
                if not isinstance(excluded, list):
                    errors.append("Target guids target_guids must be an array")
            else:
                errors.append("Target guids target_guids has an invalid operator")

    # -- fetching --------------------------------------------------------------

    def strings(self, key: str) -> list[str] | None:
        """A comma-list filter's values, or None when not requested.

        A bare `key` (no `=`) is requested but nil: CC then filters on NULL,
        which matches nothing.
        """
        if key not in self.requested:
            return None
        value = self.values.get(key)
        return [ruby_to_s(v) for v in value] if isinstance(value, list) else []

    def excluded_targets(self) -> list[str] | None:
        """`target_guids[not]` values, when that exclusion form was used."""
        value = self.values.get("target_guids")
        if not isinstance(value, dict):
            return None
        excluded = value.get("not")
        return [ruby_to_s(v) for v in excluded] if isinstance(excluded, list) else []

    def windows(self, key: str) -> list[tuple[int, int]] | None:
        """Half-open µs windows for created_ats/updated_ats (`BaseListFetcher.advanced_filtering`).

        Equality is an OR of whole seconds; operators AND into one window.
        Raises UnknownError where Ruby's `Time.parse` would raise.
        """
        if key not in self.requested:
            return None
        value = self.values.get(key)
        try:
            if isinstance(value, list):
                return [(t, t + SECOND_US) for t in (ruby_time_parse(ruby_to_s(v)) for v in value)]
            if isinstance(value, dict):
                return [self._relational_window(value)]
        except ValueError as exc:
            raise UnknownError(str(exc)) from exc
        raise UnknownError(f"undefined method 'map' for nil ({key})")

    @staticmethod
    def _relational_window(value: dict[str, Value]) -> tuple[int, int]:
        lo, hi = -(2**62), 2**62
        for operator, stamp in value.items():
            t = ruby_time_parse(ruby_to_s(stamp))
            if operator == "lt":
                hi = min(hi, t)
            elif operator == "lte":
                hi = min(hi, t + SECOND_US)
            elif operator == "gt":
                lo = max(lo, t + SECOND_US)
            elif operator == "gte":
                lo = max(lo, t)
        return lo, hi

    def echo(self) -> dict[str, Value]:
        """`to_param_hash`: every requested filter, list values re-joined with escaped commas."""
        echoed: dict[str, Value] = {}
        for key in self.requested:
            if key in PAGINATION_KEYS or key not in self.values:
                continue
            value = self.values[key]
            if isinstance(value, list):
                value = ",".join(ruby_to_s(v).replace(",", "%2C") for v in value)
            echoed[key] = value
        return echoed


def _hash_of_arrays(key: str, value: dict[str, Value], spec: ListSpec) -> Value:
    """`from_params(fields:)`: `target_guids[not]=a,b` and `fields[space]=a,b` split the
    inner values."""
    if (key == "target_guids" and spec.target_guids) or (key == "fields" and spec.fields):
        return {k: _to_array(v) if not isinstance(v, dict) else v for k, v in value.items()}
    return value


#: `MetadataHelpers`: the requirement splitter and the patterns, tried in this order.
_REQUIREMENT = re.compile(r"(?:\(.*?\)|[^,])+")
_KEY = r"[\w\-\.\_\/]+"
_REQUIREMENT_PATTERNS = (
    ("in", re.compile(r"\A(?P<key>.*?) in \((?P<values>.*)\)\Z")),
    ("notin", re.compile(r"\A(?P<key>.*?) notin \((?P<values>.*)\)\Z")),
    ("equal", re.compile(rf"\A(?P<key>{_KEY})(==?)(?P<values>.*)\Z")),
    ("not_equal", re.compile(rf"\A(?P<key>{_KEY})(!=)(?P<values>.*)\Z")),
    ("exists", re.compile(rf"\A(?P<key>{_KEY})(?P<values>)\Z")),
    ("not_exists", re.compile(rf"\A!(?P<key>{_KEY})(?P<values>)\Z")),
)
#: Operators a resource with no labels satisfies (the sandbox's resources have none).
_MATCH_UNLABELLED = {"notin", "not_equal", "not_exists"}


def label_requirements(selector: Value) -> list[str | None]:
    """The operator of each requirement of a `label_selector` (None: unparseable)."""
    found: list[str | None] = []
    for text in _REQUIREMENT.findall(ruby_to_s(selector) if selector is not None else ""):
        operator = next((op for op, pattern in _REQUIREMENT_PATTERNS if pattern.match(text)), None)
        found.append(operator)
    return found


def label_selector_errors(selector: Value) -> list[str]:
    """`LabelSelectorRequirementValidator` (the key and value checks approximated)."""
    requirements = label_requirements(selector)
    if not requirements:
        return ["Missing label_selector value"]
    if len(requirements) > 50:
        return ["Too many label_selector requirements (maximum is 50)"]
    return ["Invalid label_selector value" for op in requirements if op is None]


def matches_unlabelled(selector: Value) -> bool:
    """Whether a resource without labels satisfies every requirement of the selector."""
    return all(op in _MATCH_UNLABELLED for op in label_requirements(selector))


def include_errors(value: Value, valid: tuple[str, ...]) -> list[str]:
    """`IncludeParamValidator`: unknown and duplicated included resources."""
    errors: list[str] = []
    counts: dict[str, int] = {}
    for candidate in [ruby_to_s(v) for v in value] if isinstance(value, list) else []:
        if candidate in valid:
            counts[candidate] = counts.get(candidate, 0) + 1
            if counts[candidate] == 2:
                errors.append(f"Duplicate included resource: '{candidate}'")
        else:
            names = "', '".join(valid)
            errors.append(
                f"Invalid included resource: '{candidate}'. Valid included resources are: '{names}'"
            )
    return errors
