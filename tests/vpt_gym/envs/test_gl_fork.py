"""vpt_gym.envs.gl_fork: what the first frame of a process changes (in-process, with fakes).

The end-to-end behaviour (async make_vec after rendering finishes; an explicit 'fork' context gets
a clear error instead of a hang) is tested in subprocesses in test_conformance.py.
"""
from __future__ import annotations

import pytest

from vpt_gym.envs import gl_fork


@pytest.fixture
def fresh(monkeypatch):
    """A process that has not rendered yet, with multiprocessing and os.register_at_fork recorded."""
    calls = {"set": [], "at_fork": []}
    state = {"method": None}
    monkeypatch.setattr(gl_fork, "_rendered", False)
    monkeypatch.setattr(gl_fork, "_forked_after_gl", False)
    monkeypatch.delenv("LP_NUM_THREADS", raising=False)
    monkeypatch.setattr(gl_fork.multiprocessing, "get_start_method",
                        lambda allow_none=False: state["method"])
    monkeypatch.setattr(gl_fork.multiprocessing, "set_start_method",
                        lambda method: calls["set"].append(method))
    monkeypatch.setattr(gl_fork.os, "register_at_fork",
                        lambda after_in_child: calls["at_fork"].append(after_in_child))
    return calls, state


def test_first_frame_makes_forkserver_the_default_and_marks_forked_children(fresh):
    calls, _ = fresh
    gl_fork.before_render()
    gl_fork.before_render()  # only the first frame changes anything
    assert calls["set"] == ["forkserver"]
    assert calls["at_fork"] == [gl_fork._mark_forked_child]


def test_a_start_method_the_user_chose_is_left_alone(fresh):
    calls, state = fresh
    state["method"] = "spawn"
    gl_fork.before_render()
    assert calls["set"] == []
    assert len(calls["at_fork"]) == 1  # a 'fork' child would still get the clear error


def test_llvmpipe_without_threads_needs_nothing(fresh, monkeypatch):
    calls, _ = fresh
    monkeypatch.setenv("LP_NUM_THREADS", "0")
    gl_fork.before_render()
    assert calls == {"set": [], "at_fork": []}


def test_a_child_forked_after_rendering_refuses_to_render(fresh):
    gl_fork.before_render()
    gl_fork._mark_forked_child()  # what os.register_at_fork runs in the child
    assert gl_fork.forked_after_gl()
    with pytest.raises(RuntimeError, match=r"forked.*would hang.*'forkserver'.*vector_kwargs"):
        gl_fork.before_render()
