"""``cfevents help [COMMAND...]``: the help of a command, as ``COMMAND --help`` prints it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cfevents.errors import UsageError


def help_command(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(metavar="[COMMAND]...", help="A command: usage list, crashes, ..."),
    ] = None,
) -> None:
    """Show the help of COMMAND (all commands without one).

    Examples:

        cfevents help usage report

        cfevents help crashes
    """
    root = ctx.find_root()
    target: Any = root.command
    target_ctx: Any = root
    for name in command or ():
        commands = getattr(target, "commands", None)
        if commands is None or name not in commands:
            choices = ", ".join(commands) if commands else "none"
            where = target_ctx.command_path
            raise UsageError(f"no command {name!r} in '{where}'; commands: {choices}")
        target = commands[name]
        target_ctx = type(ctx)(target, info_name=name, parent=target_ctx)
    text = target.get_help(target_ctx)  # rich help prints itself and returns ""
    if text:
        typer.echo(text)
