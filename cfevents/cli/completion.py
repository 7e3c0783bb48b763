"""``cfevents completion SHELL``: print the shell completion script (also kept in completions/),
and what the scripts complete: commands and options (Typer's), every enumerated option value
(``-o``, ``--by``, ``--source``, ``--state``, ``--type``, ``--order``, ...) and org, space and
app names from the Cloud Foundry target (cached briefly; never more than about a second)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from cfevents.cli import COMPLETE_VAR
from cfevents.errors import UsageError

SHELLS = ("bash", "zsh", "fish")
NAMES_TTL = 300.0  # seconds a cached list of org/space/app names is used
NAMES_DEADLINE = 1.0  # seconds a completion waits for the API at most
NAMED = {"--org": "organizations", "--space": "spaces", "--app": "apps"}
# a metavar listing the values themselves: desc|asc, snapshot|events|none|FILE
_ALTERNATIVES = re.compile(r"[a-z0-9][a-z0-9_-]*(\|[A-Za-z0-9][A-Za-z0-9_-]*)+")


def script(shell: str) -> str:
    """The completion script for ``shell``, generated from the app by Typer."""
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="cfevents", complete_var=COMPLETE_VAR, shell=shell)


def completion(
    shell: Annotated[str, typer.Argument(metavar="SHELL", help="bash, zsh or fish.")],
) -> None:
    """Print the completion script for SHELL.

    Examples:

        cfevents completion bash > ~/.local/share/bash-completion/completions/cfevents

        cfevents completion zsh > "${fpath[1]}/_cfevents"

        cfevents completion fish > ~/.config/fish/completions/cfevents.fish
    """
    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}; choose one of {', '.join(SHELLS)}")
    typer.echo(script(shell), nl=False)


def install(command: Any) -> None:
    """Give the options of ``command`` (and its loaded subcommands) value completion."""
    for param in getattr(command, "params", ()):
        values = _completer(param)
        if values is not None and getattr(param, "_custom_shell_complete", None) is None:
            param._custom_shell_complete = values
    for sub in (getattr(command, "commands", None) or {}).values():
        install(sub)


Completer = Callable[[Any, Any, str], list[str]]


def _completer(param: Any) -> Completer | None:
    metavar = getattr(param, "metavar", None) or ""
    opts = getattr(param, "opts", ())
    name = next((o for o in opts if o in NAMED), None)
    if name is not None:
        return lambda ctx, _param, incomplete: _starting(target_names(NAMED[name]), incomplete)
    if metavar in _FIXED or _ALTERNATIVES.fullmatch(metavar):
        return lambda ctx, _param, incomplete: _starting(values_for(metavar, ctx), incomplete)
    return None


def _starting(values: list[str], incomplete: str) -> list[str]:
    return [v for v in values if v.startswith(incomplete)]


def _formats() -> list[str]:
    from cfevents.output.formatters import FORMATS

    return [FORMATS[0], "wide", *FORMATS[1:]]


def _table_formats() -> list[str]:
    from tabulate import tabulate_formats

    return sorted(tabulate_formats)


def _states() -> list[str]:
    from cfevents.api import USAGE_STATES

    return list(USAGE_STATES)


def _types(ctx: Any) -> list[str]:
    from cfevents.events.audit import AUDIT_TYPES
    from cfevents.events.filters import AUDIT_SHORT_TYPES, SERVICE_INSTANCE_TYPES

    if "services" in (getattr(ctx, "command_path", "") or "").split():
        return list(SERVICE_INSTANCE_TYPES)
    return [*AUDIT_SHORT_TYPES, *AUDIT_TYPES]


_FIXED: Mapping[str, Callable[[Any], list[str]]] = {
    "FORMAT": lambda ctx: _formats(),
    "FMT": lambda ctx: _table_formats(),
    "STATE": lambda ctx: _states(),
    "TYPE": _types,
    "SHELL": lambda ctx: list(SHELLS),
}


def values_for(metavar: str, ctx: Any) -> list[str]:
    """The values an option with ``metavar`` takes (placeholders such as FILE left out)."""
    fixed = _FIXED.get(metavar)
    if fixed is not None:
        return fixed(ctx)
    return [part for part in metavar.split("|") if not part.isupper()]


# -- org, space and app names from the target ---------------------------------------------------


def target_names(kind: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The names of the target's ``kind`` (organizations, spaces or apps) the logged-in user
    sees: from a cache younger than NAMES_TTL, else asked of the API in a background thread
    given NAMES_DEADLINE; nothing (never an error) when there is no login or no answer."""
    import os
    import threading

    environ = dict(os.environ if env is None else env)
    deadline = _deadline(environ)
    try:
        settings = _settings(environ, deadline)
    except Exception:  # no target, no login, a broken config: nothing to offer
        return []
    path = _cache_path(environ, settings.api, kind)
    cached = _read_cache(path)
    if cached is not None:
        return cached
    from cfevents.cc.client import CFClient  # imported before the clock starts

    found: list[list[str]] = []
    worker = threading.Thread(
        target=lambda: found.append(_fetch(CFClient(settings), kind)), daemon=True
    )
    worker.start()
    worker.join(deadline)
    if not found:
        return []
    _write_cache(path, found[0])
    return found[0]


def _deadline(env: Mapping[str, str]) -> float:
    """NAMES_DEADLINE, or $CFEVENTS_COMPLETION_TIMEOUT seconds (0.1 to 10)."""
    try:
        value = float(env.get("CFEVENTS_COMPLETION_TIMEOUT") or NAMES_DEADLINE)
    except ValueError:
        return NAMES_DEADLINE
    return min(max(value, 0.1), 10.0)


def _settings(env: dict[str, str], deadline: float) -> Any:
    from dataclasses import replace

    from cfevents.cc import config

    settings = config.resolve(
        api_flag=None,
        token_flag=None,
        skip_ssl_validation=False,
        env=env,
        cf_config=config.load_cf_config(env),
        timeout=deadline,
        retries=0,
    )
    return replace(settings, timeout=deadline, retries=0)


def _fetch(client: Any, kind: str) -> list[str]:
    try:
        body = client.get_json(f"/v3/{kind}", [("per_page", "5000"), ("order_by", "name")])
    except Exception:  # an expired login, a network error: no names this time
        return []
    finally:
        client.close()
    resources = body.get("resources") if isinstance(body, dict) else None
    names = [r.get("name") for r in resources or () if isinstance(r, dict)]
    return sorted({n for n in names if isinstance(n, str) and n})


def _cache_path(env: Mapping[str, str], api: str, kind: str) -> Any:
    """``$XDG_CACHE_HOME/cfevents/names-<api hash>-<kind>.json`` (else ~/.cache/...)."""
    import hashlib
    from pathlib import Path

    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    digest = hashlib.sha256(api.encode()).hexdigest()[:16]
    return Path(base) / "cfevents" / f"names-{digest}-{kind}.json"


def _read_cache(path: Any) -> list[str] | None:
    import json
    import time

    try:
        if time.time() - path.stat().st_mtime > NAMES_TTL:
            return None
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    return None


def _write_cache(path: Any, names: list[str]) -> None:
    """Names only (never a token), written whole (a temp file renamed into place)."""
    import json
    import os
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".names-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(names, out)
        os.replace(temp, path)
    except OSError:
        pass


# -- the shells' side ---------------------------------------------------------------------------


def init_shells() -> None:
    """Typer's completion classes, with option help given to zsh and fish as one plain line:
    Typer renders it as rich markup, which drops ``[default: ...]`` and breaks long help onto
    a second line that fish then offers as a completion of its own (a bogus ``--out``)."""
    from typer._click.shell_completion import add_completion_class
    from typer._completion_classes import FishComplete, ZshComplete, completion_init

    completion_init()

    class Zsh(ZshComplete):
        def format_completion(self, item: Any) -> str:
            if not item.help:
                return f'"{_zsh_escape(item.value)}"'
            return f'"{_zsh_escape(item.value)}":"{_zsh_escape(one_line(item.help))}"'

    class Fish(FishComplete):
        def format_completion(self, item: Any) -> str:
            return f"{item.value}\t{one_line(item.help)}" if item.help else f"{item.value}"

    add_completion_class(Zsh, "zsh")
    add_completion_class(Fish, "fish")


def one_line(text: str) -> str:
    """Help text as one line of plain text (markup escapes undone)."""
    return " ".join(text.replace("\\[", "[").split())


def _zsh_escape(text: str) -> str:
    return (
        text.replace('"', '""')
        .replace("'", "''")
        .replace("$", "\\$")
        .replace("`", "\\`")
        .replace(":", r"\\:")
    )
