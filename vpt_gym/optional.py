"""Optional dependencies: import them on demand, or fail with the exact install command."""
from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependency(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


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
            f"({err}). Install it with: pip install \"vpt-gym[{extra}]\""
        )
        if how:
            message += f"\n{how}"
        raise MissingDependency(message) from err
