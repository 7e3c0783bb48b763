"""Option groups: options declared once, as the fields of a frozen dataclass, used by many commands.

A command takes a group as one typed parameter (``window: Window``); :func:`grouped` shows
Typer the group's fields as the command's options, at that parameter's place and in field
order (so ``--help`` lists them where they always were), and hands the command one instance:

    @app.command("list")
    @grouped
    def list_things(ctx: typer.Context, window: Window, shape: OutputFlags) -> None:
        rt.cf().things(**window.args())

A group is a dataclass whose fields are ``Annotated[..., typer.Option(...)]`` with defaults,
marked by :func:`option_group`. Field names are the command's parameter names: two groups of
one command must not share one.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_GROUP_MARK = "__cfevents_option_group__"


def option_group(cls: type[T]) -> type[T]:
    """Mark a (frozen) dataclass as a group of options that :func:`grouped` expands."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    setattr(cls, _GROUP_MARK, True)
    return cls


def is_group(value: object) -> bool:
    return isinstance(value, type) and getattr(value, _GROUP_MARK, False) is True


def _fields(group: type[Any]) -> list[inspect.Parameter]:
    """The group's fields as keyword parameters with their Annotated types and defaults."""
    hints = typing.get_type_hints(group, include_extras=True)
    parameters = []
    for field in dataclasses.fields(group):
        if field.default is dataclasses.MISSING:
            raise TypeError(f"{group.__name__}.{field.name} needs a default (an option's)")
        parameters.append(
            inspect.Parameter(
                field.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=field.default,
                annotation=hints[field.name],
            )
        )
    return parameters


def grouped(command: F) -> F:
    """``command`` with each option-group parameter shown to Typer as the group's fields."""
    hints = typing.get_type_hints(command, include_extras=True)
    signature = inspect.signature(command)
    groups: dict[str, type[Any]] = {}
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        annotation = hints.get(parameter.name, parameter.annotation)
        if is_group(annotation):
            groups[parameter.name] = annotation
            parameters.extend(_fields(annotation))
        else:
            parameters.append(parameter.replace(annotation=annotation))
    names = [p.name for p in parameters]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise TypeError(f"{command.__name__}: options declared twice: {', '.join(clashes)}")

    @functools.wraps(command)
    def run(**given: Any) -> Any:
        for name, group in groups.items():
            values = {f.name: given.pop(f.name) for f in dataclasses.fields(group)}
            given[name] = group(**values)
        return command(**given)

    run.__dict__["__signature__"] = signature.replace(parameters=parameters)
    run.__dict__.pop("__wrapped__")  # Typer reads __signature__, not the grouped command's
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return typing.cast("F", run)
