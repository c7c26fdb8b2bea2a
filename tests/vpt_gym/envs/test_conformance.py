"""Every registered id as a gymnasium / SB3 user uses it (issue 15): one suite-wide invariant test.

For each id: gymnasium's ``check_env``, SB3's ``check_env``, observations that are new C-contiguous
arrays of the declared dtype and shape, ``PPO.predict`` on a reset observation,
``spec.max_episode_steps`` and ``gym.make_vec(id, 2, vectorization_mode="async")`` after the parent
has rendered (in a subprocess, with a timeout: the old failure was a hang).

Default run: one id per dm_control domain, one kitchen id and one Crafter id
(:data:`REPRESENTATIVE`), and one subprocess that runs async ``make_vec`` for a dm_control, a kitchen
and a Crafter id (:data:`ASYNC_DEFAULT`). ``pytest -m slow``: every other id, each async one in its
own subprocess. MineRL ids are skipped: no real MineRL
can run here (their adapter is tested against the double in ``test_minerl.py``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.preprocessing import is_image_space

import vpt_gym

ALL_IDS = vpt_gym.env_ids()
FAMILY = {entry.id: entry.family for entry in vpt_gym.ENV_TABLE}
#: One id per dm_control domain, one kitchen id, one Crafter id: the default run.
REPRESENTATIVE = [
    "vpt_gym/walker-walk-v0",
    "vpt_gym/cheetah-run-v0",
    "vpt_gym/quadruped-walk-v0",
    "vpt_gym/stickman-walk-v0",
    "vpt_gym/kitchen-microwave-v0",
    "vpt_gym/Crafter-v1",
]
#: Cheaper settings that keep every checked property: fast rendering (dm_control: pixels ~1/255
#: apart), a smaller Crafter world (faster resets).
CHEAP_KWARGS = {"dmc": {"render_quality": "fast"}, "kitchen": {}, "crafter": {"area": (24, 24)}}
#: The ids whose async make_vec runs by default: both OpenGL renderers (dm_control's, and
#: gymnasium's MuJoCo renderer under the kitchen) and Crafter (no OpenGL).
ASYNC_DEFAULT = ["vpt_gym/walker-walk-v0", "vpt_gym/kitchen-microwave-v0", "vpt_gym/Crafter-v1"]
#: The real episode limit, in agent steps, of each family at its registered defaults.
EPISODE_LIMIT = {"dmc": 500, "kitchen": 140, "crafter": 10000}
#: Seconds an async make_vec subprocess may take on this shared 2-core machine before it counts as
#: hung (the bug was an endless wait; a healthy run takes seconds).
ASYNC_TIMEOUT_S = 240
REPO_ROOT = Path(__file__).resolve().parents[3]


def _id_params() -> list:
    params = []
    for env_id in ALL_IDS:
        marks = []
        if FAMILY[env_id] == "minerl":
            marks.append(pytest.mark.skip(reason="MineRL cannot run on this machine (no Minecraft)"))
        elif env_id not in REPRESENTATIVE:
            marks.append(pytest.mark.slow)
        params.append(pytest.param(env_id, marks=marks, id=env_id.split("/")[1]))
    return params


def test_representative_ids_cover_every_family_and_domain():
    assert set(REPRESENTATIVE) <= set(ALL_IDS)
    runnable = [i for i in ALL_IDS if FAMILY[i] != "minerl"]
    domains = {i.split("/")[1].split("-")[0] for i in runnable if FAMILY[i] == "dmc"}
    assert {i.split("/")[1].split("-")[0] for i in REPRESENTATIVE if FAMILY[i] == "dmc"} == domains
    assert {FAMILY[i] for i in REPRESENTATIVE} == {FAMILY[i] for i in runnable}
    assert len(ALL_IDS) == 43 and len(runnable) == 37


def _check_observation(space: gym.spaces.Space, obs: np.ndarray) -> None:
    assert isinstance(obs, np.ndarray)
    assert obs.flags.c_contiguous, f"strides {obs.strides} are not C-contiguous"
    assert obs.dtype == space.dtype and obs.shape == space.shape
    assert space.contains(obs)
    torch.as_tensor(obs)  # raised "At least one stride ... is negative" for flipped frames


def conforms(env: gym.Env, expected_limit: int) -> None:
    """The checks of issue 15 on one env made with ``gym.make``."""
    with warnings.catch_warnings():
        # expected: "env is different from the unwrapped version" (gym.make's wrappers) and
        # unbounded state boxes
        warnings.simplefilter("ignore", UserWarning)
        gymnasium_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)

    space = env.observation_space
    obs, _ = env.reset(seed=0)
    _check_observation(space, obs)
    kept = obs.copy()
    env.action_space.seed(0)
    next_obs, *_ = env.step(env.action_space.sample())
    _check_observation(space, next_obs)
    assert not np.shares_memory(obs, next_obs), "the env reused the previous observation's memory"
    env.step(env.action_space.sample())
    np.testing.assert_array_equal(obs, kept)  # the env does not write into observations it gave out

    policy = "CnnPolicy" if is_image_space(space) else "MlpPolicy"
    model = PPO(policy, env, n_steps=8, batch_size=8, n_epochs=1, device="cpu", seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype).reshape(env.action_space.shape))

    assert env.spec is not None and env.spec.max_episode_steps == expected_limit
    limits = [w for w in _wrappers(env) if isinstance(w, gym.wrappers.TimeLimit)]
    assert all(w._max_episode_steps != expected_limit for w in limits), "a second TimeLimit was added"
    assert any(isinstance(w, gym.wrappers.PassiveEnvChecker) for w in _wrappers(env))


def _wrappers(env: gym.Env):
    while isinstance(env, gym.Wrapper):
        yield env
        env = env.env


@pytest.mark.parametrize("env_id", _id_params())
def test_registered_id_conforms(env_id):
    env = gym.make(env_id, **CHEAP_KWARGS[FAMILY[env_id]])
    try:
        conforms(env, EPISODE_LIMIT[FAMILY[env_id]])
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ["vpt_gym/walker-walk-v0", "vpt_gym/kitchen-microwave-v0"])
def test_state_observations_conform(env_id):
    env = gym.make(env_id, obs_type="state")
    try:
        conforms(env, EPISODE_LIMIT[FAMILY[env_id]])
    finally:
        env.close()


def test_kitchen_unwrapped_is_not_a_goal_env():
    env = gym.make("vpt_gym/kitchen-light-v0", obs_type="state")
    assert not hasattr(env.unwrapped, "compute_reward")
    assert hasattr(env.unwrapped.kitchen, "compute_reward")  # gymnasium-robotics' env is still inside
    env.close()


def test_passive_env_checker_is_on_for_every_id():
    for env_id in ALL_IDS:
        assert gym.spec(env_id).disable_env_checker is False, env_id


# --- the episode limit follows the arguments and is the env's own, not a second TimeLimit --------


def _episode_length(env: gym.Env, cap: int) -> int:
    env.reset(seed=0)
    env.action_space.seed(0)
    for step in range(1, cap + 1):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        if truncated:
            return step
    raise AssertionError(f"not truncated within {cap} steps")


@pytest.mark.parametrize(
    "env_id, kwargs, limit",
    [
        ("vpt_gym/cheetah-run-v0", {"obs_type": "state", "action_repeat": 3}, 334),
        ("vpt_gym/walker-walk-v0", {"obs_type": "state", "action_repeat": 4}, 250),
        ("vpt_gym/kitchen-slide-v0", {"obs_type": "state", "action_repeat": 4}, 70),
        ("vpt_gym/Crafter-v1", {"length": 7, "area": (24, 24)}, 7),
    ],
)
def test_spec_max_episode_steps_is_where_the_episode_ends(env_id, kwargs, limit):
    env = gym.make(env_id, **kwargs)
    assert env.spec.max_episode_steps == limit
    assert _episode_length(env, cap=limit + 5) == limit
    env.close()


def test_make_with_max_episode_steps_still_overrides():
    env = gym.make("vpt_gym/walker-walk-v0", obs_type="state", max_episode_steps=6)
    assert env.spec.max_episode_steps == 6
    assert _episode_length(env, cap=10) == 6
    env.close()


# --- async vector envs after the parent has rendered (subprocess, timeout) ----------------------

ASYNC_SCRIPT = textwrap.dedent(
    """
    import sys

    import gymnasium as gym
    import numpy as np

    import vpt_gym


    def main(context, env_ids):
        for env_id in env_ids:
            env = gym.make(env_id)  # the parent renders first: this is what used to hang the workers
            env.reset(seed=0)
            env.close()
            kwargs = {} if context == "default" else {"vector_kwargs": {"context": context}}
            try:
                envs = gym.make_vec(env_id, 2, vectorization_mode="async", **kwargs)
                obs, _ = envs.reset(seed=0)
                obs, *_ = envs.step(envs.action_space.sample())
                envs.close()
            except RuntimeError as error:
                print("ERROR", env_id, error, flush=True)
                continue
            assert obs.shape == (2, *envs.single_observation_space.shape), obs.shape
            assert obs.flags.c_contiguous
            print("OK", env_id, flush=True)


    if __name__ == "__main__":
        main(sys.argv[1], sys.argv[2:])
    """
)


def run_async_vector_envs(tmp_path: Path, context: str, env_ids: list[str]) -> list[str]:
    """Run :data:`ASYNC_SCRIPT` in a fresh interpreter; its output lines (fails on a hang)."""
    script = tmp_path / "async_make_vec.py"
    script.write_text(ASYNC_SCRIPT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.pop("LP_NUM_THREADS", None)  # llvmpipe with threads: the case that used to hang
    try:
        result = subprocess.run(
            [sys.executable, str(script), context, *env_ids],
            capture_output=True, text=True, timeout=ASYNC_TIMEOUT_S, env=env, cwd=tmp_path,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"async make_vec hung (no result after {ASYNC_TIMEOUT_S} s): {error.stdout!r}")
    assert result.returncode == 0, result.stderr[-3000:]
    return [line for line in result.stdout.splitlines() if line.startswith(("OK", "ERROR"))]


def test_async_make_vec_after_rendering_default_ids(tmp_path):
    lines = run_async_vector_envs(tmp_path, "default", ASYNC_DEFAULT)
    assert lines == [f"OK {env_id}" for env_id in ASYNC_DEFAULT]


@pytest.mark.slow
@pytest.mark.parametrize("env_id", [p for p in _id_params() if p.values[0] not in ASYNC_DEFAULT])
def test_async_make_vec_after_rendering(tmp_path, env_id):
    assert run_async_vector_envs(tmp_path, "default", [env_id]) == [f"OK {env_id}"]


def test_explicit_fork_after_rendering_fails_with_a_clear_error_not_a_hang(tmp_path):
    lines = run_async_vector_envs(tmp_path, "fork", ["vpt_gym/walker-walk-v0"])
    assert len(lines) == 1 and lines[0].startswith("ERROR vpt_gym/walker-walk-v0")
    assert "forkserver" in lines[0] and "would hang" in lines[0]
