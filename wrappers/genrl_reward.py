"""GenRL's prompt reward as gymnasium wrappers, so any RL algorithm (e.g. SB3) can train on it.

The wrapper runs the world model's posterior on the real frames (one latent state per env, kept across
steps and reset with the episode), and rewards each step with GenRL's score of the newest latent state
against the prompt's connector target under the best-matching alignment of the episode's last 17 states
(:class:`agents.genrl.reward.OnlinePromptReward`, spec section 4). The env's own reward moves to
``info["task_reward"]``. The posterior's mode is used by default, so the same frames give the same reward
(``sample=True`` samples it, as the reference's evaluation filter does).

Everything is validated before the first step: the prompt (empty / over-long text, wrong video shape or
length, text for a video-only VLM), the env's observations (uint8 64x64 RGB, the world model's image size)
and its action space (a Box of the world model's action size).

Example::

    from agents.genrl.reward import MFWM
    from agents.genrl.vlm import load_vlm
    from stable_baselines3 import PPO
    import vpt_gym, gymnasium as gym

    model = MFWM.from_checkpoint("runs/wm/checkpoint.safetensors", vlm=load_vlm("random-features"))
    env = GenRLReward(gym.make("vpt_gym/walker-stand-v0"), model, "prompt.gif")
    PPO("CnnPolicy", env).learn(10_000)
"""
from __future__ import annotations

from typing import Any, Literal, Optional, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from agents.genrl.reward import MFWM, OnlinePromptReward, ScoreFn


def check_env_for_model(observation_space: gym.Space, action_space: gym.Space, model: MFWM) -> None:
    """Raise a clear error if an env's spaces do not fit the world model (64x64 RGB uint8, action size)."""
    shape = getattr(observation_space, "shape", None)
    if not isinstance(observation_space, gym.spaces.Box) or observation_space.dtype != np.uint8 or shape not in (
        (64, 64, 3), (3, 64, 64)
    ):
        raise ValueError(
            f"the world model reads uint8 64x64 RGB frames, shape (64, 64, 3) or (3, 64, 64); the env's "
            f"observation space is {observation_space}"
        )
    if not isinstance(action_space, gym.spaces.Box) or len(action_space.shape) != 1:
        raise ValueError(f"the world model needs a 1-d Box action space, the env has {action_space}")
    if action_space.shape[0] != model.action_dim:
        raise ValueError(
            f"action dimension mismatch: the world model was trained with {model.action_dim}-d actions, the env "
            f"has {action_space.shape[0]}-d actions ({action_space})"
        )


def _clip(action: Any, space: gym.spaces.Box) -> np.ndarray:
    """The action the env executes (dmc envs clip to the Box; the world model saw clipped actions)."""
    return np.clip(np.asarray(action, np.float32), space.low, space.high)


class GenRLReward(gym.Wrapper):
    """Replace the reward by GenRL's prompt reward; the task reward goes to ``info["task_reward"]``.

    :param env: a pixel env (uint8 64x64 RGB) with a Box action space of the model's size.
    :param model: an :class:`~agents.genrl.reward.MFWM` (world model + connector + VLM).
    :param prompt: text, a video file path (.gif/.mp4), uint8 frames (T, H, W, 3), or a float embedding.
    :param fn: score function, ``"max_cosine"`` (GenRL's default) or ``"cosine"``.
    :param sample: sample the posterior instead of taking its mode.
    :param seed: seed of the target rollout (its initial stochastic state is sampled).

    Example::

        env = GenRLReward(gym.make("vpt_gym/walker-stand-v0"), model, "standing up straight")
        obs, info = env.reset(seed=0)
        obs, prompt_reward, terminated, truncated, info = env.step(env.action_space.sample())
        info["task_reward"]  # the env's own reward
    """

    def __init__(self, env: gym.Env, model: MFWM, prompt: Any, fn: ScoreFn = "max_cosine", sample: bool = False,
                 seed: Optional[int] = 0) -> None:
        check_env_for_model(env.observation_space, env.action_space, model)
        super().__init__(env)
        self.model = model
        self.prompt_reward = model.prompt_reward(prompt, batch=1, fn=fn, seed=seed)
        self.tracker = OnlinePromptReward(self.prompt_reward, num_envs=1, sample=sample)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.tracker.reset(np.asarray(obs)[None])
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, task_reward, terminated, truncated, info = self.env.step(action)
        reward = self.tracker.step(np.asarray(obs)[None], _clip(action, self.env.action_space)[None])
        info = dict(info)
        info["task_reward"] = float(task_reward)
        return obs, float(reward[0]), terminated, truncated, info


class GenRLRewardVector(VectorWrapper):
    """:class:`GenRLReward` for a gymnasium ``VectorEnv``: one batched world-model pass per step for all envs.

    Supports the ``NEXT_STEP`` (gymnasium's default) and ``SAME_STEP`` autoreset modes. With ``NEXT_STEP`` the
    step after an episode's end returns the reset observation: its latent state is reset and its reward is 0.
    With ``SAME_STEP`` the final step is rewarded from ``info["final_obs"]`` and the state is then reset on the
    returned (reset) observation. The task rewards are in ``info["task_reward"]`` (N,).

    :param env: a vector env of pixel envs (see :class:`GenRLReward`).
    :param model: the MFWM. :param prompt: as :class:`GenRLReward`. :param fn: score function.
    :param sample: sample the posterior. :param seed: target seed.

    Example::

        envs = gym.make_vec("vpt_gym/walker-stand-v0", num_envs=4)
        envs = GenRLRewardVector(envs, model, "prompt.gif")
        obs, info = envs.reset(seed=0)
        obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())
    """

    def __init__(self, env: VectorEnv, model: MFWM, prompt: Any, fn: ScoreFn = "max_cosine", sample: bool = False,
                 seed: Optional[int] = 0) -> None:
        check_env_for_model(env.single_observation_space, env.single_action_space, model)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"GenRLRewardVector supports the NEXT_STEP and SAME_STEP autoreset modes, got {mode}")
        super().__init__(env)
        self.autoreset_mode: Literal["next", "same"] = "next" if mode == AutoresetMode.NEXT_STEP else "same"
        self.model = model
        self.prompt_reward = model.prompt_reward(prompt, batch=1, fn=fn, seed=seed)
        self.tracker = OnlinePromptReward(self.prompt_reward, num_envs=env.num_envs, sample=sample)
        self._done = np.zeros(env.num_envs, bool)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        mask = None
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], bool)
        self.tracker.reset(np.asarray(obs), mask)
        self._done = np.zeros(self.num_envs, bool) if mask is None else self._done & ~mask
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, task_reward, terminated, truncated, info = self.env.step(actions)
        obs_arr = np.asarray(obs)
        acts = _clip(actions, self.single_action_space).reshape(self.num_envs, -1)
        done = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        if self.autoreset_mode == "next":
            restarted = self._done
            rewards = np.zeros(self.num_envs, np.float32)
            live = ~restarted
            if live.any():
                rewards = self.tracker.step(obs_arr, acts, live)
            if restarted.any():
                self.tracker.reset(obs_arr, restarted)
        else:
            final = obs_arr.copy()
            if done.any():
                for i in np.flatnonzero(done):
                    final[i] = np.asarray(info["final_obs"][i])
            rewards = self.tracker.step(final, acts)
            if done.any():
                self.tracker.reset(obs_arr, done)
        self._done = done
        info = dict(info)
        info["task_reward"] = np.asarray(task_reward, np.float32)
        return obs, rewards, terminated, truncated, info
