"""GenRL's task table (vpt_gym.tasks) against the spec's table (genrl.md section 6.2)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import vpt_gym
from vpt_gym.tasks import (
    DOMAINS,
    TASKS,
    UnknownTaskError,
    get_task,
    normalized_score,
    prompt_for,
    task_ids,
)

# The spec's table, row by row: id, HEAD prompt, v1 prompt (None = same), random, expert, in data.
SPEC_TABLE = [
    ("walker_walk", "walk fast clean", None, 45, 960, True),
    ("walker_run", "run fast clean", None, 30, 770, True),
    ("walker_stand", "standing up straight", None, 150, 970, True),
    ("walker_flipping", "doing backflips", None, 20, 720, False),
    ("walker_one_foot", "stand on one foot", None, 20, 955, False),
    ("walker_high_kick", "stand up and kick", None, 25, 960, False),
    ("walker_lying_down", "lying down horizontally", None, 170, 975, False),
    ("walker_sit_knees", "praying", None, 100, 945, False),
    ("walker_lunge_pose", "lunge_pose", "lunge pose", 150, 945, False),
    ("cheetah_run", "running like a quadruped", None, 9, 890, True),
    ("cheetah_standing", "standing like a human", None, 5, 930, False),
    ("cheetah_lying_down", "lying down", None, 430, 920, False),
    ("quadruped_run", "spider running fast", None, 10, 930, True),
    ("quadruped_walk", "spider walking fast", None, 10, 960, True),
    ("quadruped_stand", "spider standing", None, 15, 990, True),
    ("quadruped_jump", "spider jumping", None, 15, 875, False),
    ("quadruped_two_legs", "on two legs", None, 14, 875, False),
    ("quadruped_lie_down", "lying down", None, 750, 965, False),
    ("stickman_walk", "robot walk fast clean", None, 35, 960, True),
    ("stickman_run", "robot run fast clean", None, 25, 830, True),
    ("stickman_stand", "standing up", "standing", 70, 970, True),
    ("stickman_flipping", "doing flips", None, 45, 790, False),
    ("stickman_one_foot", "stand on one foot", None, 20, 865, False),
    ("stickman_high_kick", "stand up and kick", None, 55, 920, False),
    ("stickman_lying_down", "lying down horizontally", None, 380, 965, False),
    ("stickman_legs_up", "lifting legs up while lying down", "lying down with feet up", 115, 935,
     False),
    ("stickman_sit_knees", "praying", None, 40, 966, False),
    ("stickman_lunge_pose", "lunge_pose", "lunge pose", 100, 950, False),
    ("stickman_headstand", "headstand", None, 180, 955, False),
    ("stickman_boxing", "punch", None, 80, 920, False),
    ("stickman_hands_up", "standing with the hands up", None, 5, 830, False),
    ("kitchen_microwave", "opening the microwave fully open", None, 0, 1, True),
    ("kitchen_light", "switch light on", "activate the light", 0, 1, True),
    ("kitchen_burner", "switch on red burner", "the burner becomes red", 0, 1, True),
    ("kitchen_slide", "slide cabinet above the knobs", None, 0, 1, True),
]


def test_table_has_35_tasks_in_spec_order():
    assert list(TASKS) == [row[0] for row in SPEC_TABLE]
    assert {domain: len(tasks) for domain, tasks in DOMAINS.items()} == {
        "walker": 9, "cheetah": 3, "quadruped": 6, "stickman": 13, "kitchen": 4,
    }
    assert sum(task.in_training_data for task in TASKS.values()) == 14


@pytest.mark.parametrize("row", SPEC_TABLE, ids=[row[0] for row in SPEC_TABLE])
def test_row_matches_spec(row):
    task_id, prompt, prompt_v1, random_score, expert_score, in_data = row
    task = TASKS[task_id]
    assert f"{task.domain}_{task.task}" == task_id
    assert task.prompt == prompt == prompt_for(task_id)
    assert task.prompt_v1 == (prompt if prompt_v1 is None else prompt_v1)
    assert prompt_for(task_id, version="v1") == task.prompt_v1
    assert (task.random_score, task.expert_score) == (random_score, expert_score)
    assert task.in_training_data is in_data
    expected_camera = None if task.domain == "kitchen" else (2 if task.domain == "quadruped" else 0)
    assert task.camera_id == expected_camera


def test_normalized_score_values():
    assert normalized_score("walker_walk", 45) == 0.0
    assert normalized_score("walker_walk", 960) == 1.0
    assert normalized_score("walker_walk", 502.5) == pytest.approx(0.5)
    # (500 - 750) / (965 - 750): below the random agent is negative, not clipped.
    assert normalized_score("quadruped_lie_down", 500) == pytest.approx(-250 / 215)
    assert normalized_score("cheetah_run", 1000) == pytest.approx(991 / 881)
    assert normalized_score("kitchen_light", 1) == 1.0
    assert normalized_score("kitchen_light", 0) == 0.0
    assert TASKS["stickman_boxing"].normalized_score(500) == pytest.approx(420 / 840)


@pytest.mark.parametrize("name", ["walker_lying_down", "vpt_gym/walker-lying_down-v0",
                                  "walker-lying_down", "walker-lying_down-v0"])
def test_lookup_accepts_task_and_env_ids(name):
    assert get_task(name) is TASKS["walker_lying_down"]


def test_unknown_task_lists_valid_tasks():
    with pytest.raises(KeyError) as info:
        normalized_score("walker_wlak", 100)
    assert isinstance(info.value, UnknownTaskError)
    message = str(info.value)
    assert "'walker_wlak'" in message and "Did you mean walker_walk" in message
    for task_id in TASKS:
        assert task_id in message
    with pytest.raises(UnknownTaskError, match="Valid tasks"):
        prompt_for("cartpole_swingup")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="finite"):
        normalized_score("walker_walk", float("nan"))
    with pytest.raises(ValueError, match="'head' or 'v1'"):
        prompt_for("walker_walk", version="v2")
    with pytest.raises(TypeError, match="task id string"):
        get_task(3)


def test_task_ids_by_domain():
    assert task_ids("cheetah") == ["cheetah_run", "cheetah_standing", "cheetah_lying_down"]
    assert len(task_ids()) == 35


def test_every_task_is_a_registered_env_id():
    ids = set(vpt_gym.env_ids())
    for task in TASKS.values():
        assert task.env_id in ids
        assert task.env_id in gym.registry


def test_import_is_light():
    code = (
        "import sys, vpt_gym.tasks; "
        "bad = [m for m in ('dm_control', 'mujoco', 'torch', 'shimmy') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
