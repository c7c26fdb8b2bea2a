"""User errors on the command line: one line on stderr and exit status 2, never a Python traceback.

A *user error* is something the person running the command can fix: a path that does not exist, a
checkpoint that is not one, missing weights or an optional dependency, a bad flag value. Everything else
(a bug) keeps its traceback. The user-error types are the built-in path errors and the package's own
input-error classes, named in :data:`USER_ERROR_TYPES` by qualified name so that this lowest layer needs
no import of ``agents`` or ``benchmarks`` (a subclass of a listed class counts too).

Example::

    >>> import sys
    >>> def command(path):
    ...     raise FileNotFoundError(f"data directory {path!r} does not exist")
    >>> sys.stderr = sys.stdout  # (doctest: show stderr)
    >>> run_command("vpt-gym idm", command, "/nowhere")
    vpt-gym idm: error: data directory '/nowhere' does not exist
    2
    >>> sys.stderr = sys.__stderr__
"""
from __future__ import annotations

import re
import sys
from typing import Any, Callable

__all__ = ["UsageError", "USER_ERROR_TYPES", "is_user_error", "user_error_line", "run_command"]

#: exit status of a user error (argparse's own status for bad arguments)
USER_ERROR_STATUS = 2
#: longest message printed (a hostile file name or value cannot flood the terminal)
MAX_MESSAGE_CHARS = 2000


class UsageError(ValueError):
    """A bad command-line value found after parsing (e.g. ``--stride`` larger than ``--window``)."""


#: qualified names of the exception classes that are user errors (subclasses included)
USER_ERROR_TYPES: frozenset[str] = frozenset({
    # paths the user named
    "builtins.FileNotFoundError",
    "builtins.NotADirectoryError",
    "builtins.IsADirectoryError",
    "builtins.FileExistsError",
    "builtins.PermissionError",
    # the package's input errors
    "vpt_gym.user_errors.UsageError",
    "vpt_gym.optional.MissingDependency",  # names the pip extra to install
    "vpt_gym.tasks.UnknownTaskError",
    "agents.checkpoints.CheckpointError",  # not a checkpoint, forbidden pickle global, key mismatch, ...
    "agents.vpt.contractor.ContractorFormatError",
    "agents.genrl.cli.DecodeError",
    "agents.genrl.vlm.base.MissingWeightsError",
    "agents.genrl.vlm.base.NoTextTowerError",
    "benchmarks.agents.AgentUnavailable",
    "benchmarks.pipelines.PipelineUnavailable",
})  # fmt: skip


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` (or one of its base classes) is listed in :data:`USER_ERROR_TYPES`."""
    return any(f"{cls.__module__}.{cls.__qualname__}" in USER_ERROR_TYPES for cls in type(err).__mro__)


def user_error_line(prog: str, err: BaseException) -> str:
    """``"<prog>: error: <message>"`` on one line (line breaks of the message become ``"; "``), bounded."""
    message = err.args[0] if isinstance(err, KeyError) and len(err.args) == 1 else err  # KeyError quotes its str
    text = str(message).strip() or type(err).__name__
    text = re.sub(r"\s*\n\s*", "; ", text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return f"{prog}: error: {text}"


def run_command(prog: str, command: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """Call ``command(*args, **kwargs)`` and return its exit status (``None`` counts as 0).

    A user error prints :func:`user_error_line` to stderr and returns 2; Ctrl-C prints ``<prog>: interrupted``
    and returns 130; any other exception propagates with its traceback (it is a bug to report).

    :param prog: the command's name as the user typed it, e.g. ``"vpt-gym idm"``.
    :param command: the function that runs the command.
    """
    try:
        status = command(*args, **kwargs)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - re-raised unless it is a user error
        if not is_user_error(err):
            raise
        print(user_error_line(prog, err), file=sys.stderr)
        return USER_ERROR_STATUS
    return 0 if status is None else int(status)
