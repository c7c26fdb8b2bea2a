"""Subprocesses of a process that has rendered with OpenGL (EGL / OSMesa): no silent hangs.

A process that has created an OpenGL context on Mesa's software renderer (llvmpipe, what
``MUJOCO_GL=egl`` uses on a machine without a GPU) holds rasterizer threads. ``fork()`` copies the
process without those threads, so the first OpenGL call of a forked child that renders waits for
them forever. That is what ``gym.make_vec(id, 2, vectorization_mode="async")`` did after the
parent had rendered: ``AsyncVectorEnv`` forks its workers by default on Linux (Python < 3.14).
Processes started by ``forkserver`` or ``spawn`` begin from a fresh interpreter and render fine.

Every vpt-gym env that renders goes through :class:`GLForkGuard`, which calls :func:`before_render`
before each frame. On the process's first frame it:

* makes ``forkserver`` the default multiprocessing start method **if none has been chosen yet**
  (``multiprocessing.get_start_method(allow_none=True) is None``; Python 3.14 and SB3's
  ``SubprocVecEnv`` already default to it), so ``AsyncVectorEnv(..., context=None)`` and
  ``gym.make_vec(..., vectorization_mode="async")`` start safe workers. A start method you set
  yourself (``multiprocessing.set_start_method``) is left alone;
* marks children forked from then on: if such a child is about to render, it raises a
  ``RuntimeError`` that says what happened and what to use instead, rather than hanging (this is
  what an explicit ``vector_kwargs={"context": "fork"}`` gets).

With ``LP_NUM_THREADS=0`` in the environment when the first frame is drawn, llvmpipe renders on the
calling thread and forking is safe: then nothing is changed or marked.

Workers started by ``forkserver`` or ``spawn`` re-import the main script: guard it with
``if __name__ == "__main__":`` (as multiprocessing requires), and do not run it from stdin.

Example::

    >>> import multiprocessing
    >>> from vpt_gym.envs import gl_fork
    >>> gl_fork.before_render()  # what the first frame of a vpt-gym env does
    >>> multiprocessing.get_start_method()  # none had been chosen in this process
    'forkserver'
"""
from __future__ import annotations

import multiprocessing
import os
from typing import Any

import gymnasium as gym

__all__ = ["GLForkGuard", "SAFE_START_METHOD", "before_render", "forked_after_gl"]

#: The start method made the default once this process has rendered (if none was chosen).
SAFE_START_METHOD = "forkserver"

_rendered = False  # this process (or the parent it was forked from) has drawn a frame
_forked_after_gl = False  # this process was forked from one that had drawn a frame


def _mark_forked_child() -> None:
    global _forked_after_gl
    _forked_after_gl = True


def _fork_is_safe() -> bool:
    """llvmpipe without threads (``LP_NUM_THREADS=0``) survives ``fork()``."""
    return os.environ.get("LP_NUM_THREADS", "").strip() == "0"


def forked_after_gl() -> bool:
    """Whether this process was forked from one that had already rendered with OpenGL."""
    return _forked_after_gl


def before_render() -> None:
    """Call before drawing a frame with OpenGL (see the module docstring).

    :raises RuntimeError: in a child forked after its parent rendered, where rendering would hang.
    """
    global _rendered
    if _forked_after_gl:
        raise RuntimeError(
            "This process was forked (multiprocessing start method 'fork') from a process that had "
            "already rendered with OpenGL; rendering here would hang forever. Start worker processes "
            "with 'forkserver' or 'spawn' instead, e.g. gym.make_vec(env_id, n, "
            "vectorization_mode='async', vector_kwargs={'context': 'forkserver'}), or set "
            "LP_NUM_THREADS=0 before the first frame is drawn."
        )
    if _rendered:
        return
    _rendered = True
    if _fork_is_safe():
        return
    if multiprocessing.get_start_method(allow_none=True) is None:
        multiprocessing.set_start_method(SAFE_START_METHOD)
    os.register_at_fork(after_in_child=_mark_forked_child)


class GLForkGuard(gym.Wrapper):
    """Call :func:`before_render` before every ``render()`` of the wrapped env.

    Wrap the env that owns the OpenGL renderer (the innermost one), so that every frame, whether
    asked for by a pixel-observation wrapper or by the user, goes through the guard.

    Example::

        >>> env = GLForkGuard(gym.make("CartPole-v1", render_mode="rgb_array"))
        >>> _ = env.reset(seed=0)
        >>> env.render().shape
        (400, 600, 3)

    :param env: an env that renders with OpenGL.
    """

    def render(self) -> Any:
        before_render()
        return self.env.render()
