"""The ``cfevents`` command: root app, global options, and the one place errors become exit codes.

Only Typer is imported at start-up; requests, rich, tabulate and the sandbox are imported by
the code paths that need them, and each subcommand is imported and built only when it runs
(SUBCOMMANDS), so ``cfevents --version`` and piped ``--help`` stay fast.
"""

import os
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from cfevents.cli.coercion import install as install_coercion
from cfevents.version import __version__

# Typer's rich help costs start-up time; use it on terminals only.
MARKUP_MODE: Any = "rich" if getattr(sys.stdout, "isatty", lambda: False)() else None
COMPLETE_VAR = "_CFEVENTS_COMPLETE"  # set by a shell asking for completions

_ClickException: type[Exception] = typer.BadParameter.__mro__[2]  # click's ClickException
_UsageError: type[Exception] = typer.BadParameter.__mro__[1]  # click's UsageError
_NoArgsIsHelpError: type[Exception] = next(
    c for c in _UsageError.__subclasses__() if c.__name__ == "NoArgsIsHelpError"
)

# The root's options, also accepted after the subcommand (`cfevents crashes -v`): flags, and
# options that take a value (`--api URL` or `--api=URL`).
GLOBAL_FLAGS = frozenset(
    {
        "--demo",
        "-v",
        "--verbose",
        "-q",
        "--quiet",
        "--skip-ssl-validation",
        "--trust-login-link",
        "--safe-csv",
        "--local-time",
    }
)
GLOBAL_VALUED = frozenset({"--api", "--token", "--timeout", "--retries"})


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the root's options that follow the subcommand to before it, as `cf` and `kubectl`
    users expect: ``crashes -v --app x`` is ``-v crashes --app x``. Nothing after ``--`` moves,
    and no subcommand has an option of the same name (tests/test_cli_help.py checks)."""
    position = 0
    while position < len(args):  # skip the root's own options to find the subcommand
        token = args[position]
        if token in GLOBAL_VALUED:
            position += 2
        elif token.startswith("-"):
            position += 1
        else:
            break
    if position >= len(args):
        return args
    head, rest = args[: position + 1], args[position + 1 :]
    hoisted: list[str] = []
    kept: list[str] = []
    index = 0
    while index < len(rest):
        token = rest[index]
        if token == "--":
            kept.extend(rest[index:])
            break
        if token in GLOBAL_FLAGS:
            hoisted.append(token)
        elif token in GLOBAL_VALUED and index + 1 < len(rest):
            hoisted.extend(rest[index : index + 2])
            index += 1
        elif token.split("=", 1)[0] in GLOBAL_VALUED and "=" in token:
            hoisted.append(token)
        else:
            kept.append(token)
        index += 1
    if not hoisted:
        return args
    return [*head[:-1], *hoisted, head[-1], *kept]


def escape_help_markup(command: Any) -> None:
    """On a terminal the help is rendered as rich markup, which would swallow every ``[...]``
    (``created_ats[gte]``, ``[default: $CF_API]``): escape the help texts of ``command``, its
    options and its loaded subcommands so they show as written."""
    if MARKUP_MODE != "rich":
        return
    for attribute in ("help", "short_help", "epilog"):
        text = getattr(command, attribute, None)
        if isinstance(text, str):
            setattr(command, attribute, _escape_brackets(text))
    for param in getattr(command, "params", []):
        text = getattr(param, "help", None)
        if isinstance(text, str):
            param.help = _escape_brackets(text)
        _no_flag_placeholder(param)
    _flag_help_option(command)
    commands = getattr(command, "commands", {})
    loaded = getattr(commands, "_loaded", commands)  # a lazy group: only what is loaded
    for sub in list(loaded.values()):
        escape_help_markup(sub)


def _no_flag_placeholder(param: Any) -> None:
    """A flag takes no value: no ``<bool>`` after it in the rich help (Typer shows the type of
    every option there; the plain help already leaves flags bare)."""
    if getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
        param.display_type_rich = _no_type


def _no_type(ctx: Any) -> None:
    return None


def _flag_help_option(command: Any) -> None:
    """``-h, --help`` is made on first use: make it bare too."""
    make = getattr(command, "get_help_option", None)
    if make is None or getattr(command, "bare_help_flag", False):
        return
    command.bare_help_flag = True

    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            _no_flag_placeholder(option)
        return option

    command.get_help_option = get_help_option


def _escape_brackets(text: str) -> str:
    """Every ``[`` escaped for rich markup (rich's own escape() leaves ``[`` that does not look
    like a tag, but Typer's help parses more), backslashes before it doubled."""
    import re

    return re.sub(r"(\\*)\[", lambda m: m.group(1) * 2 + "\\[", text)


class CfEventsGroup(TyperGroup):
    """Maps every failure to one stderr line and a documented exit code.

    Its subcommands load lazily (see SUBCOMMANDS): the command line names the one to load, and
    the help lists them from their help texts without importing them.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self.commands, SUBCOMMANDS)
        install_coercion(self, subcommands=False)  # the subcommands get it as they load
        escape_help_markup(self)
        self._summarising = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._summarising and isinstance(self.commands, LazyCommands):
            return self.commands.summary(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        self._summarising = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._summarising = False

    def _main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if os.environ.get(COMPLETE_VAR):  # a shell asking for completions
            from cfevents.cli.completion import init_shells

            init_shells()
        if args is None:
            args = sys.argv[1:]
        args = hoist_global_options(list(args))
        try:
            rv = TyperGroup.main(
                self, args, prog_name or "cfevents", complete_var, standalone_mode=False, **extra
            )
        except _NoArgsIsHelpError as exc:  # bare `cfevents` / `cfevents usage`: help, exit 0
            _print_help(exc)
            return _finish(0, standalone_mode)
        except _ClickException as exc:
            from cfevents.errors import ExitCode  # only here: --help never needs the table

            _report_usage(exc)
            code = getattr(exc, "exit_code", ExitCode.USAGE)
            return _finish(code, standalone_mode)
        except typer.Abort:
            from cfevents.errors import ExitCode

            _print_error("aborted")
            return _finish(ExitCode.INTERRUPTED, standalone_mode)
        return _finish(rv if isinstance(rv, int) else 0, standalone_mode)

    # click's main() is overloaded on standalone_mode; this one keeps its parameters and
    # always returns the exit code, so it replaces it as a plain attribute
    main: Any = _main

    def invoke(self, ctx: Any) -> Any:
        from cfevents.cli.runtime import Runtime
        from cfevents.errors import SIGNAL_WORDS, CfEventsError, ExitCode, StoppedBySignal

        try:
            return super().invoke(ctx)
        except CfEventsError as exc:
            from cfevents.cli.flags import cli_message

            _print_error(cli_message(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _print_error("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except StoppedBySignal as exc:  # SIGTERM/SIGHUP outside an export: like Ctrl-C
            _print_error(SIGNAL_WORDS.get(exc.signum, f"signal {exc.signum}"))
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(ExitCode.PIPE) from None
        except (typer.Exit, typer.Abort, _ClickException):
            raise
        except Exception as exc:  # a bug: one line, exit 1; -v shows the traceback
            runtime = ctx.obj
            if isinstance(runtime, Runtime) and runtime.verbose:
                import traceback

                for line in traceback.format_exc().splitlines():  # escaped like every stderr line
                    runtime.log(line)
            _print_error(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)")
            raise typer.Exit(ExitCode.ERROR) from None
        finally:
            runtime = ctx.obj
            if isinstance(runtime, Runtime):
                runtime.close()


def _finish(code: int, standalone_mode: bool) -> int:
    if standalone_mode:
        sys.exit(code)
    return code


def _print_error(message: str) -> None:
    """The one place errors are printed: one line, server text escaped as in tables, and any
    secret this process holds redacted (a net: no message is built from one)."""
    from cfevents.cli.environment import fit_terminal
    from cfevents.errors import redact
    from cfevents.output.formatters import escape_control

    text = f"cfevents: error: {escape_control(redact(message))}"
    try:
        if sys.stderr.isatty():
            text = "\n".join(fit_terminal(text, sys.stderr))
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass


def _print_help(exc: Exception) -> None:
    """The help click computed for a bare group (on a terminal rich has printed it already)."""
    message = exc.format_message() if hasattr(exc, "format_message") else ""
    if message:
        try:
            sys.stdout.write(message if message.endswith("\n") else message + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass


def _report_usage(exc: Exception) -> None:
    """Click's usage errors as one line: ``cfevents: error: <message> (see '<cmd> --help')``."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(str(message).split())
    ctx = getattr(exc, "ctx", None)
    hint = (
        f" (see '{ctx.command_path} --help')"
        if ctx is not None and isinstance(exc, _UsageError)
        else ""
    )
    _print_error(message + hint)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"cfevents {__version__}\n")
        raise typer.Exit()


app = typer.Typer(
    cls=CfEventsGroup,
    name="cfevents",
    help="Query and export Cloud Foundry app usage events and crash/audit events.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=MARKUP_MODE,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            metavar="URL",
            help="Cloud Controller API URL [default: $CF_API, else the cf CLI's target].",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help="Bearer token [default: $CF_TOKEN, else the cf CLI's login]. Prefer CF_TOKEN: flags show up in ps.",
        ),
    ] = None,
    skip_ssl_validation: Annotated[
        bool, typer.Option("--skip-ssl-validation", help="Do not verify the API's TLS certificate.")
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Run against the built-in sandbox foundation (no login needed)."
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Log each request and its status on stderr (the token is never shown).",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No notes on stderr (errors and warnings still show)."),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="S",
            min=0.1,
            max=86400,
            help="Seconds to wait for each response.",
        ),
    ] = 30.0,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            metavar="N",
            min=0,
            max=100,
            help="Retries for connection errors, timeouts, 429 and 502-504.",
        ),
    ] = 5,
    trust_login_link: Annotated[
        bool,
        typer.Option(
            "--trust-login-link",
            help="Send the refresh token or client secret to the login link GET / names even "
            "when it is off the API's own domain or not https (see README 'Authentication').",
        ),
    ] = False,
    safe_csv: Annotated[
        bool,
        typer.Option(
            "--safe-csv",
            help="Prefix ' to csv/tsv cells starting with = + - @ TAB or CR, so spreadsheets "
            "do not run them as formulas (changes the data; see README).",
        ),
    ] = False,
    local_time: Annotated[
        bool,
        typer.Option(
            "--local-time",
            help="Show table timestamps in this machine's time zone (as 'cf events' does); "
            "other formats keep UTC.",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Query and export Cloud Foundry app usage events and crash/audit events.

    Credentials come from --api/--token, then CF_API/CF_TOKEN (or CF_CLIENT_ID and
    CF_CLIENT_SECRET), then the cf CLI's own login (~/.cf/config.json): after 'cf login',
    cfevents just works.
    """
    from cfevents.cli import output
    from cfevents.cli.runtime import Runtime

    output.configure(safe_csv=safe_csv, local_time=local_time)
    ctx.obj = Runtime(
        api=api,
        token=token,
        skip_ssl_validation=skip_ssl_validation,
        demo=demo,
        verbose=verbose,
        quiet=quiet,
        timeout=timeout,
        retries=retries,
        trust_login_link=trust_login_link,
    )


@dataclass(frozen=True)
class Subcommand:
    """A subcommand that is imported and built only when it is used."""

    module: str
    attribute: str  # a Typer app (a group) or a command function in ``module``
    help: str  # the first paragraph of its help: what ``cfevents --help`` lists


# Loading every subcommand (its module, and Typer building a command from each signature)
# would cost start-up time on every run, so `cfevents --version`, `cfevents --help` and
# `cfevents usage list` import and build only what they show or run. Commands first, then
# groups: the order Typer lists them in. tests/test_cli_lazy.py checks these help texts.
SUBCOMMANDS: dict[str, Subcommand] = {
    "crashes": Subcommand(
        "cfevents.cli.crashes",
        "crashes",
        "List app crashes, newest first, across the foundation (or an org, space or app).",
    ),
    "chargeback": Subcommand(
        "cfevents.cli.chargeback",
        "chargeback",
        "One chargeback statement per org: app, task and service lines with costs, and a total.",
    ),
    "completion": Subcommand(
        "cfevents.cli.completion", "completion", "Print the completion script for SHELL."
    ),
    "help": Subcommand(
        "cfevents.cli.help",
        "help_command",
        "Show the help of COMMAND (all commands without one).",
    ),
    "history": Subcommand(
        "cfevents.cli.history",
        "app",
        "History for billing: keep usage events past the 31-day retention, report any month.",
    ),
    "usage": Subcommand(
        "cfevents.cli.usage",
        "app",
        "App usage events: starts, stops, scaling, staging and tasks (for billing/chargeback).",
    ),
    "services": Subcommand(
        "cfevents.cli.services",
        "app",
        "Service usage events: service instances created, updated (plan or name) and deleted.",
    ),
    "events": Subcommand(
        "cfevents.cli.events",
        "app",
        "Audit events: who did what to which app, space or org (incl. app crashes).",
    ),
}


def load_subcommand(name: str) -> Any:
    """Import subcommand ``name`` and build its click command the way ``add_typer`` would."""
    import importlib

    import typer.main

    sub = SUBCOMMANDS[name]
    target = getattr(importlib.import_module(sub.module), sub.attribute)
    holder = typer.Typer(rich_markup_mode=MARKUP_MODE)
    holder.callback()(_nothing)  # a group, so the subcommand is built as a member of one
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)  # the holder has a callback: it is a group
    command = group.commands[name]
    install_coercion(command)
    escape_help_markup(command)
    if os.environ.get(COMPLETE_VAR):  # option values complete (only a shell asking needs it)
        from cfevents.cli.completion import install as install_completion

        install_completion(command)
    return command


def _nothing() -> None:
    """Stands in for the root callback while a subcommand is built."""


class LazyCommands(MutableMapping[str, Any]):
    """The root group's commands: known by name at once, loaded on first access."""

    def __init__(self, loaded: MutableMapping[str, Any], lazy: dict[str, Subcommand]) -> None:
        self._loaded: dict[str, Any] = dict(loaded)
        self._names = [*lazy, *(n for n in loaded if n not in lazy)]

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in SUBCOMMANDS or name not in self._names:
                raise KeyError(name)
            self._loaded[name] = load_subcommand(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._names:
            self._names.append(name)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def summary(self, name: str) -> Any:
        """The command if it is loaded, else a stand-in that carries only its help."""
        if name in self._loaded:
            return self._loaded[name]
        stand_in = TyperCommand(name=name, help=SUBCOMMANDS[name].help)
        escape_help_markup(stand_in)
        return stand_in


def main() -> None:
    """Console-script entry point."""
    prepare_std_streams()
    install_signal_handlers()
    app(prog_name="cfevents")


def install_signal_handlers() -> None:
    """SIGTERM (cron, systemd, ``timeout``, Kubernetes) and SIGHUP stop a run the way Ctrl-C
    does: :class:`StoppedBySignal` unwinds it (files closed, the JSON array closed, the
    checkpoint at the last page written in full) and it exits 143 / 129 with one line. A second
    signal while stopping gets the default action (the process ends at once)."""
    import signal

    def stop(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)
        from cfevents.errors import StoppedBySignal

        raise StoppedBySignal(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:  # not when the parent chose to ignore it
            signal.signal(signum, stop)
    global _WAKEUP
    if _WAKEUP is None:  # every signal also writes a byte here: pause() wakes on it
        _WAKEUP, write_end = os.pipe()
        os.set_blocking(_WAKEUP, False)
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)


_WAKEUP: int | None = None  # the read end of the pipe the signal module writes to


def pause(seconds: float) -> None:
    """``time.sleep`` that a signal always ends (the follow's wait between polls, retries).

    Python runs a signal's handler between two bytecodes of the main thread; a signal that
    lands after the last such check but before ``time.sleep`` enters the kernel is not
    handled until that sleep ends (a SIGTERM just as ``--follow --interval 600s`` went to
    sleep waited 600 s). The byte the signal wrote to the wakeup pipe is still there when
    the wait starts, so ``select`` returns at once and the handler runs.
    """
    import contextlib
    import select
    import time

    if _WAKEUP is None:
        time.sleep(seconds)
        return
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([_WAKEUP], [], [], left)
        if ready:  # the handler has run (and raised) by now unless the signal is ignored
            with contextlib.suppress(BlockingIOError):
                os.read(_WAKEUP, 512)


class ClosedStdout:
    """Stands in for a closed stdout (``cfevents ... >&-``): commands that write no results
    (``usage export --out FILE``) run as usual; the first result written is a usage error."""

    encoding = "utf-8"
    closed = False

    def write(self, text: str) -> int:
        from cfevents.errors import UsageError

        raise UsageError("standard output is closed: nowhere to write results (use --out FILE?)")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("stdout is closed")


def prepare_std_streams() -> None:
    """Closed stdout/stderr and non-UTF-8 encodings (``PYTHONIOENCODING=ascii``) never end in a
    traceback: a closed stdout is :class:`ClosedStdout`, a closed stderr goes to /dev/null, and
    characters the encoding lacks are written as backslash escapes (JSON switches to \\uNNNN)."""
    if sys.stdout is None:
        sys.stdout = ClosedStdout()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("_", "-")
        reconfigure = getattr(stream, "reconfigure", None)
        if not encoding.startswith("utf") and reconfigure is not None:
            reconfigure(errors="backslashreplace")
