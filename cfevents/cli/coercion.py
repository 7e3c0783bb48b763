"""Converting plain option values without Pydantic.

Typer (0.29) converts every option value with a Pydantic ``TypeAdapter`` that it builds when a
command first parses its arguments: importing Pydantic and building the adapters for a
command's two dozen options costs more than everything else a one-page ``cfevents usage list``
does. Our options are plain (str, int, float, bool, list[str]), so :func:`install` gives those
a converter that handles the values it is sure about and hands everything else, including
every value it would reject, to Typer's own conversion: results and error messages stay
Typer's. If Typer's internals change shape, :func:`install` does nothing and Typer converts as
before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DIGITS = re.compile(r"[0-9]{1,18}", re.ASCII)
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,15})?", re.ASCII)
_TYPER = object()  # "ask Typer"
_PLAIN = (str, int, float, bool, list[str], Path)
# A Path option converts plainly only with Typer's default checks (it may not exist; if it
# does it must be readable); any other request goes to Typer.
_PATH_DEFAULTS = {
    "exists": False,
    "file_okay": True,
    "dir_okay": True,
    "writable": False,
    "readable": True,
    "resolve_path": False,
    "allow_dash": False,
    "path_type": None,
}

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer.core import _TyperParameter

    FAST = True
except ImportError:  # pragma: no cover - another Typer: leave conversion to it
    FAST = False


def install(command: Any, *, subcommands: bool = True) -> None:
    """Give the plain parameters of ``command`` (and its subcommands) the fast conversion."""
    if not FAST:
        return  # pragma: no cover
    for param in getattr(command, "params", ()):
        _install_param(param)
    _install_help_option(command)
    if subcommands:
        for sub in (getattr(command, "commands", None) or {}).values():
            install(sub)


def _install_help_option(command: Any) -> None:
    """The help option is made on first use (it needs the context); convert it fast too."""
    make = getattr(command, "get_help_option", None)
    if make is None or getattr(command, "_plain_help_option", False):
        return

    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            _install_param(option)
        return option

    command.get_help_option = get_help_option
    command._plain_help_option = True


def _install_param(param: Any) -> None:
    if not isinstance(param, _TyperParameter) or getattr(param, "_runtime_param", 0) is not None:
        return
    descriptor = getattr(param, "type_descriptor", None)
    info = getattr(descriptor, "parameter_info", None)
    if descriptor is None or info is None or getattr(descriptor, "file_annotation", 0) is not None:
        return
    annotation = getattr(descriptor, "annotation", None)
    if annotation not in _PLAIN or getattr(info, "parser", 0) is not None:
        return
    if getattr(info, "clamp", True):
        return
    if annotation is Path and any(
        getattr(info, name, None) != default for name, default in _PATH_DEFAULTS.items()
    ):
        return
    param._runtime_param = PlainRuntimeParam(
        parameter_info=info, annotation=annotation, descriptor=descriptor
    )


if FAST:

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):
        """Typer's conversion contract, without Pydantic for plain values."""

        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            result = plain_value(self.annotation, value, self.parameter_info)
            if result is _TYPER:
                typer_own = build_runtime_param(self.descriptor)
                return typer_own._coerce_value(value, param=param, ctx=ctx)
            return result


def plain_value(annotation: Any, value: Any, info: Any) -> Any:
    """``value`` converted to ``annotation``, or ``_TYPER`` when Typer must decide."""
    kind = type(value)
    if annotation is str:
        return value if kind is str else _TYPER
    if annotation is bool:
        return value if kind is bool else _TYPER
    if annotation is Path:
        return plain_path(value)
    if annotation is list[str]:
        if kind in (list, tuple) and all(type(v) is str for v in value):
            return list(value)
        return _TYPER
    number: Any = _TYPER
    if annotation is int:
        if kind is int:
            number = value
        elif kind is str and _DIGITS.fullmatch(value):
            number = int(value)
    elif annotation is float:
        if kind is float:
            number = value
        elif kind is str and _DECIMAL.fullmatch(value):
            number = float(value)
    if number is _TYPER:
        return _TYPER
    low, high = getattr(info, "min", None), getattr(info, "max", None)
    if (low is not None and number < low) or (high is not None and number > high):
        return _TYPER  # out of range: Typer says so, in its words
    return number


def plain_path(value: Any) -> Any:
    """A ``Path`` option's value as Typer gives it with its default checks: ``Path(value)``
    when it does not exist or is readable; anything else (empty, a NUL, unreadable) to Typer."""
    if type(value) is str and value and "\x00" not in value:
        path = Path(value)
    elif isinstance(value, Path):
        path = value
    else:
        return _TYPER
    try:
        os.stat(path)
    except OSError:
        return path
    except ValueError:  # pragma: no cover - a path the OS cannot take: Typer says so
        return _TYPER
    return path if os.access(path, os.R_OK) else _TYPER
