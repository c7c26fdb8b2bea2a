"""GenRL's custom dm_control tasks and the Stickman domain, registered into ``dm_control.suite``.

Importing this package makes every GenRL task loadable with dm_control's own API, like a built-in
domain (this is how the reference does it, in ``envs/custom_dmc_tasks/__init__.py``):

* the extra walker, cheetah and quadruped tasks are added to those domains' ``SUITE`` containers
  under the tag ``"custom"`` (modules :mod:`.walker`, :mod:`.cheetah`, :mod:`.quadruped`);
* the Stickman domain (module ``vpt_gym.envs.suites.stickman``, a dm_control-style domain module
  with ``SUITE``, ``get_model_and_assets()`` and one factory per task) is added to
  ``suite._DOMAINS``;
* ``suite.ALL_TASKS``, ``suite.TASKS_BY_DOMAIN`` and the tag tuples are recomputed so listings
  include them.

Example::

    >>> from dm_control import suite
    >>> import vpt_gym.envs.suites
    >>> ("walker", "lying_down") in suite.ALL_TASKS
    True
    >>> env = suite.load("quadruped", "two_legs", task_kwargs={"random": 0})
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

os.environ.setdefault("MUJOCO_GL", "egl")

from dm_control import suite  # noqa: E402

from vpt_gym.envs.suites import cheetah, quadruped, walker  # noqa: E402,F401  (registers tasks)

__all__ = ["CUSTOM_DOMAINS", "STICKMAN_IMPORT_ERROR", "require_domain", "valid_tasks"]

#: Domains this package adds to dm_control's suite (beside tasks for existing domains).
CUSTOM_DOMAINS: tuple[str, ...] = ("stickman",)

#: Why the Stickman domain could not be imported, or ``None`` when it is registered.
STICKMAN_IMPORT_ERROR: ImportError | None = None


def _register_domain(name: str) -> ImportError | None:
    module_name = f"{__name__}.{name}"
    try:
        module: ModuleType = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise  # the module exists but one of its own imports is missing: a real error
        return ImportError(
            f"The {name!r} dm_control domain is not available: module {module_name} does not "
            f"exist in this installation of vpt-gym."
        )
    for attribute in ("SUITE", "get_model_and_assets"):
        if not hasattr(module, attribute):
            raise ImportError(
                f"{module_name} is not a dm_control domain module: it has no {attribute!r}"
            )
    suite._DOMAINS[name] = module
    return None


STICKMAN_IMPORT_ERROR = _register_domain("stickman")


def _refresh_listings() -> None:
    """Recompute dm_control's task listings after adding tasks and domains."""
    suite.ALL_TASKS = suite._get_tasks(tag=None)
    suite.BENCHMARKING = suite._get_tasks("benchmarking")
    suite.EASY = suite._get_tasks("easy")
    suite.HARD = suite._get_tasks("hard")
    suite.EXTRA = tuple(sorted(set(suite.ALL_TASKS) - set(suite.BENCHMARKING)))
    suite.NO_REWARD_VIZ = suite._get_tasks("no_reward_visualization")
    suite.REWARD_VIZ = tuple(sorted(set(suite.ALL_TASKS) - set(suite.NO_REWARD_VIZ)))
    suite.TASKS_BY_DOMAIN = suite._get_tasks_by_domain(suite.ALL_TASKS)


_refresh_listings()


def require_domain(domain: str) -> None:
    """Raise a clear ``ImportError`` if ``domain`` is one of ours that could not be imported."""
    if domain == "stickman" and STICKMAN_IMPORT_ERROR is not None:
        raise ImportError(str(STICKMAN_IMPORT_ERROR)) from STICKMAN_IMPORT_ERROR


def valid_tasks() -> dict[str, tuple[str, ...]]:
    """Every loadable ``domain -> task names`` of dm_control's suite, custom tasks included."""
    return {domain: tuple(tasks) for domain, tasks in sorted(suite.TASKS_BY_DOMAIN.items())}
