"""Optional dependencies: import them on demand, or fail with the exact install command."""
from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependency(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


def install_command(extra: str) -> str:
    """The command that installs a vpt-gym extra. vpt-gym is not on PyPI, so it is installed from its
    checkout: ``pip install -e ".[extra]"`` run in the checkout's root."""
    return f'pip install -e ".[{extra}]"'


def import_optional(module: str, extra: str, how: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming the pip extra that provides it.

    :param module: the module to import, e.g. ``"gymnasium_robotics"``.
    :param extra: the vpt-gym extra that installs it, e.g. ``"kitchen"``.
    :param how: extra installation steps to show (system packages, build requirements).
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        message = (
            f"This feature needs the optional dependency {module!r}, which is not installed "
            f"({err}). Install it from your vpt-gym checkout (vpt-gym is not on PyPI): {install_command(extra)}"
        )
        if how:
            message += f"\n{how}"
        raise MissingDependency(message) from err
