r"""The one place the library's parameter names become the command line's flags.

Library errors name the Python parameter they are about (``UsageError.param``: ``min_age: ...``)
and write any other parameter in backquotes (``\`force\` replaces it``), so a library user
reads what they passed; a command's user reads the flags instead (``--min-age: ...``,
``--force replaces it``).
"""

from __future__ import annotations

import re

from cfevents.errors import CfEventsError, UsageError

# Parameters whose flag is not ``--`` + the name with dashes.
FLAGS = {
    "format": "--output",
    "guids": "--guid",
    "types": "--type",
    "actees": "--actee",
    "service_instance_types": "--type",
    "service_offering_guids": "--offering-guid",
    "app_": "--app",
    "input_": "--input",
    "reasons": "--reason",
    "exit_statuses": "--exit-status",
}
_MENTION = re.compile(r"`([a-z][a-z_]*)`")  # a parameter named in a library message


def flag(param: str) -> str:
    """The command line's flag for a library parameter: ``min_age`` -> ``--min-age``."""
    return FLAGS.get(param) or "--" + param.replace("_", "-")


def cli_message(exc: CfEventsError) -> str:
    """The error's message as the command line says it: flags, not parameter names."""
    if not isinstance(exc, UsageError):
        return exc.message
    text = _MENTION.sub(lambda match: flag(match.group(1)), exc.detail_text)
    if exc.param is None or exc.detail_text.startswith(f"`{exc.param}`"):
        return text
    return f"{', '.join(flag(p) for p in exc.param.split(', '))}: {text}"
