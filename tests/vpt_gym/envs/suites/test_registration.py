"""vpt_gym.envs.suites registers GenRL's tasks and domains into dm_control's suite."""
from __future__ import annotations

import pytest
from dm_control import suite

from vpt_gym.envs import suites
from vpt_gym.tasks import TASKS


def test_every_genrl_dm_control_task_is_loadable_by_name():
    for task in TASKS.values():
        if task.domain == "kitchen" or (task.domain == "stickman" and suites.STICKMAN_IMPORT_ERROR):
            continue
        assert (task.domain, task.task) in suite.ALL_TASKS
        assert task.task in suites.valid_tasks()[task.domain]


def test_custom_tasks_are_tagged_and_listings_refreshed():
    assert set(suite._DOMAINS["walker"].SUITE.tagged("custom")) == {
        "flipping", "one_foot", "high_kick", "lying_down", "sit_knees", "lunge_pose",
    }
    assert set(suite._DOMAINS["quadruped"].SUITE.tagged("custom")) == {
        "walk", "stand", "jump", "two_legs", "lie_down",
    }
    assert ("cheetah", "standing") in suite.EXTRA  # not a benchmarking task
    assert ("cartpole", "swingup") in suite.BENCHMARKING  # built-in listings intact


def test_missing_domain_module_gives_a_clear_import_error(monkeypatch):
    error = suites._register_domain("no_such_domain")
    assert isinstance(error, ImportError)
    assert "vpt_gym.envs.suites.no_such_domain does not exist" in str(error)
    assert "no_such_domain" not in suite._DOMAINS
    monkeypatch.setattr(suites, "STICKMAN_IMPORT_ERROR", ImportError("stickman missing"))
    with pytest.raises(ImportError, match="stickman missing"):
        suites.require_domain("stickman")
    suites.require_domain("walker")  # built-in domains never raise
