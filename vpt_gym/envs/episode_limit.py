"""Declare the episode limit an env enforces itself as ``env.spec.max_episode_steps``.

dm_control ends its episodes after 1000 control steps, the kitchen after 280 env steps and Crafter
after ``length`` steps; each env truncates by itself, counting in its own steps, so the limit in
agent steps depends on the action repeat. Registering ``max_episode_steps`` would make
``gym.make`` add a second ``TimeLimit`` (in agent steps, blind to ``action_repeat``); instead the
ids are registered without one and the factory wraps the env in :class:`EpisodeLimitSpec`, which
only reports the real limit in ``spec.max_episode_steps`` (what rl-zoo, Minari and SB3 users read),
the way gymnasium's ``TimeLimit`` reports its own.

Example::

    >>> import gymnasium as gym
    >>> import vpt_gym
    >>> env = gym.make("vpt_gym/walker-walk-v0", obs_type="state")
    >>> env.spec.max_episode_steps
    500
"""
from __future__ import annotations

import copy

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

__all__ = ["EpisodeLimitSpec"]


class EpisodeLimitSpec(gym.Wrapper):
    """Report ``max_episode_steps`` (the limit the wrapped env enforces itself) in ``spec``.

    It does not count steps or truncate: the wrapped env must end its episodes with
    ``truncated=True`` after ``max_episode_steps`` steps.

    Example::

        >>> env = gym.make("CartPole-v1", max_episode_steps=50)  # truncates after 50 steps
        >>> EpisodeLimitSpec(env.env, 50).spec.max_episode_steps  # env.env: without the TimeLimit
        50

    :param env: an env that truncates its episodes itself.
    :param max_episode_steps: that limit, in steps of this env (agent steps).
    """

    def __init__(self, env: gym.Env, max_episode_steps: int) -> None:
        if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int) or max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be a positive integer, got {max_episode_steps!r}")
        super().__init__(env)
        self.max_episode_steps = max_episode_steps

    @property
    def spec(self) -> EnvSpec | None:
        if self._cached_spec is not None:
            return self._cached_spec
        env_spec = self.env.spec
        if env_spec is not None:
            env_spec = copy.deepcopy(env_spec)
            env_spec.max_episode_steps = self.max_episode_steps
        self._cached_spec = env_spec
        return env_spec
