"""``cfevents completion SHELL``: print the shell completion script (also kept in completions/)."""

from __future__ import annotations

from typing import Annotated

import typer

from cfevents.cli import COMPLETE_VAR
from cfevents.errors import UsageError

SHELLS = ("bash", "zsh", "fish")


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
