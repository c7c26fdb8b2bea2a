"""What produced a benchmark result: package versions, the git commit and the command line.

The report prints all of it; the runner also keys every cell by the versions its result depends on
(:func:`family_versions`), so a cell measured under other package versions is recomputed, not shown.

Example::

    >>> v = versions()
    >>> v["vpt-gym"] == __import__("vpt_gym").__version__ and "dm-control" in v
    True
    >>> sorted(family_versions("crafter"))[:2]
    ['crafter', 'gymnasium']
"""
from __future__ import annotations

import importlib.metadata
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Sequence

NOT_INSTALLED = "not installed"

# the packages every cell's result depends on (besides vpt-gym itself)
CORE_PACKAGES = ("gymnasium", "numpy", "torch", "stable-baselines3")

# env family (vpt_gym.registration.ENV_TABLE) -> the packages that simulate it
ENV_PACKAGES: dict[str, tuple[str, ...]] = {
    "dmc": ("dm-control", "mujoco", "shimmy"),
    "kitchen": ("gymnasium-robotics", "mujoco"),
    "crafter": ("crafter", "opensimplex"),
    "minerl": ("minerl",),
}

# shown in the report too: what makes the plots, videos and VLM rewards
OTHER_PACKAGES = ("matplotlib", "imageio", "transformers", "tqdm")


def package_version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``"not installed"``."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def _vpt_gym_version() -> str:
    import vpt_gym

    return vpt_gym.__version__


def versions() -> dict[str, str]:
    """vpt-gym, the core packages, every env package (``"not installed"`` where missing) and the report's."""
    env = sorted({d for dists in ENV_PACKAGES.values() for d in dists})
    return {"vpt-gym": _vpt_gym_version(), **{d: package_version(d) for d in (*CORE_PACKAGES, *env, *OTHER_PACKAGES)}}


def family_versions(family: str | None) -> dict[str, str]:
    """The versions a result on an env of ``family`` depends on: vpt-gym, the core packages, the family's."""
    dists = (*CORE_PACKAGES, *ENV_PACKAGES.get(family or "", ()))
    return {"vpt-gym": _vpt_gym_version(), **{d: package_version(d) for d in sorted(set(dists))}}


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the checkout holding ``path`` (default: this package), with ``-dirty`` when tracked files
    differ from it; None outside a git checkout or without git."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def command_line(argv: Sequence[str] | None = None) -> str:
    """``argv`` (default: this process's command line, ``python -m benchmarks ...`` as typed) as a shell command
    line, the program by its base name."""
    if argv is None:
        argv = sys.orig_argv if Path(sys.argv[0]).name == "__main__.py" else sys.argv
    args = list(argv)
    if args:
        args[0] = Path(args[0]).name
    return shlex.join(args)
