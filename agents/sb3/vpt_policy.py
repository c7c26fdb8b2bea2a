"""VPT as a stable-baselines3 actor-critic policy over ``MultiDiscrete([8641, 121])``.

:class:`VPTActorCriticPolicy` wraps a :class:`~agents.vpt.policy.VPTPolicyNet` (ImpalaCNN + transformer
trunk, the pretrained ``buttons``/``camera`` heads) as an SB3 :class:`ActorCriticPolicy`:

- **actions**: SB3's :class:`MultiCategoricalDistribution` over ``[button class, camera class]`` whose
  logits are the heads' temperature-scaled log-probabilities (``log_softmax(logits / T)``, the
  checkpoint's ``temperature``), so sampling, log-probs, entropy and KL are those of the tempered VPT
  policy. (Sampling uses torch's categorical sampler, not VPT's Gumbel-max: same distribution, other
  draws.) Log-probs sum both heads, as VPT's own ``DictActionHead`` does.
- **value**: the network's ``value_head.linear`` output, used directly as the value (no EWMA
  de-normalisation; SB3's PPO fits raw returns). It is zero-initialised, as VPT's RL fine-tuning did,
  whenever weights are loaded from a pretrained (BC) checkpoint. The EWMA normaliser parameters stay in
  the state dict (for key compatibility) but are unused.
- **memory** (choice (b) of the design): the transformer's key/value cache is *recomputed over stored
  chunks*. In rollouts the policy steps one frame at a time with its cache
  (:meth:`VPTActorCriticPolicy.step`); the :class:`~agents.sb3.sequence_buffer.SequenceRolloutBuffer`
  stores the cache only at the start of every chunk of ``chunk_len`` consecutive steps per env; training
  re-runs each chunk from its stored start cache with the stored ``first`` flags
  (:meth:`VPTActorCriticPolicy.evaluate_actions_sequence`), which reproduces the rollout's outputs
  exactly (to float rounding) and back-propagates through the chunk (not into the stored cache:
  truncated back-propagation as in VPT's own training).

  Cost, per env and ``n_steps`` rollout: ``n_steps / chunk_len`` caches of ``n_layers x maxlen x
  (2H + 1)`` floats (1x model, chunk 128: 4 MiB each, 64 MiB for 2048 steps) -- storing the cache per
  step (choice (a)) would need 4 MiB per step (8 GiB). Compute: the rollout runs one frame at a time
  (as any VPT agent), training runs chunks of ``chunk_len`` frames against a ``maxlen`` cache, the same
  attention work as the rollout; nothing is computed twice except what PPO recomputes anyway.
  :class:`~agents.sb3.kl_ppo.KLPPO` also steps the frozen reference policy in rollouts (its own cache)
  so the KL term sees the reference's true context: one more no-grad forward per step and per minibatch.

- **episode starts** reset the memory: a step flagged ``first`` never attends to an earlier episode
  (see :mod:`agents.vpt.attention`).

The sequence protocol (``is_sequence_policy``, ``chunk_len``, :meth:`initial_memory`, :meth:`step`,
:meth:`sequence_distribution`, :meth:`evaluate_actions_sequence`, :meth:`predict_values_sequence`) is
what :class:`~agents.sb3.kl_ppo.KLPPO` drives; SB3's memory-less entry points (``forward``,
``evaluate_actions``, ``get_distribution``, ``predict_values``) raise, since their outputs would be wrong.
``predict(obs, state, episode_start)`` works as in sb3-contrib's recurrent policies (``state`` is the cache).

**Crafter**: with a config whose ``action_space`` is ``"crafter"`` (e.g.
:data:`agents.vpt.config.CRAFTER_POLICY`) the action space is ``Discrete(17)`` and the distribution SB3's
:class:`CategoricalDistribution` over the 17-way head's temperature-scaled log-probabilities; the body,
the memory and the sequence protocol are the same code.

Checkpoints: :meth:`VPTActorCriticPolicy.from_pretrained` (released names, safetensors directories,
official ``.model``/``.weights``); ``save``/``save_pretrained`` write ``config.json`` + ``model.safetensors``
(SB3's own ``policy.save`` would write a pickle), ``load`` reads them back exactly.

Example::

    >>> import gymnasium as gym
    >>> from agents.sb3 import VPTActorCriticPolicy
    >>> obs_space = gym.spaces.Box(0, 255, (32, 32, 3), "uint8")
    >>> act_space = gym.spaces.MultiDiscrete([8641, 121])
    >>> policy = VPTActorCriticPolicy(obs_space, act_space, lambda _: 1e-4, vpt_config="tiny")
    >>> actions, memory = policy.predict(obs_space.sample()[None], episode_start=[True])
    >>> actions.shape
    (1, 2)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution, MultiCategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import get_device
from torch import nn

from agents.checkpoints import PathLike
from agents.sb3.sequence_buffer import Memory
from agents.sb3.sequence_policy import MemoryOnlyEntryPoints
from agents.vpt.config import CRAFTER_N_ACTIONS, POLICY_PRESETS, PolicyConfig
from agents.vpt.io import from_pretrained as load_vpt
from agents.vpt.io import save_pretrained as save_vpt
from agents.vpt.policy import VPTPolicyNet


def resolve_config(vpt_config: str | dict[str, Any] | PolicyConfig, img_size: int | None = None) -> PolicyConfig:
    """A :class:`PolicyConfig` from a preset name, its ``to_dict()`` form or itself, optionally with another
    ``img_size`` (for a network trained from scratch: the ImpalaCNN's dense layer depends on the frame
    size, so pretrained weights only fit their own ``img_size``, 128 for the released models)."""
    if isinstance(vpt_config, str):
        if vpt_config not in POLICY_PRESETS:
            raise ValueError(f"unknown VPT policy preset {vpt_config!r}; known: {sorted(POLICY_PRESETS)}")
        config = POLICY_PRESETS[vpt_config]
    elif isinstance(vpt_config, dict):
        config = PolicyConfig.from_dict(vpt_config)
    elif isinstance(vpt_config, PolicyConfig):
        config = vpt_config
    else:
        raise TypeError(f"vpt_config must be a preset name, a dict or a PolicyConfig, got {type(vpt_config).__name__}")
    if img_size is not None and img_size != config.img_size:
        config = dataclasses.replace(config, img_size=int(img_size))
    return config


def action_space_of(config: PolicyConfig) -> spaces.Discrete | spaces.MultiDiscrete:
    """The gymnasium action space of a policy config: ``MultiDiscrete([8641, 121])`` for Minecraft,
    ``Discrete(17)`` for Crafter."""
    if config.action_space == "crafter":
        return spaces.Discrete(CRAFTER_N_ACTIONS)
    return spaces.MultiDiscrete([config.n_buttons, config.n_camera])


class VPTActorCriticPolicy(MemoryOnlyEntryPoints, ActorCriticPolicy):
    """The VPT policy as an SB3 actor-critic policy (see the module docstring).

    :param observation_space: ``Box(0, 255, (S, S, 3) or (3, S, S), uint8)`` with ``S`` the config's
        ``img_size`` (SB3 transposes HWC image envs to CHW; both are accepted).
    :param action_space: ``MultiDiscrete([n_buttons, n_camera])`` (``[8641, 121]``); ``Discrete(17)`` for a
        config with ``action_space="crafter"``.
    :param lr_schedule: learning-rate schedule (given by the algorithm).
    :param vpt_config: a preset name (``"1x"``, ``"2x"``, ``"3x"``, ``"tiny"``) or ``PolicyConfig.to_dict()``
        (JSON-able, so SB3's ``save`` stores it as plain JSON).
    :param chunk_len: training chunk length in steps (default: the config's ``timesteps``, 128 in VPT).
    :param use_sde: must be False (given by PPO).
    :param optimizer_class: optimizer. :param optimizer_kwargs: its kwargs.
    :param kwargs: other :class:`ActorCriticPolicy` arguments are refused (the network is VPT's).
    """

    #: Tells :class:`~agents.sb3.kl_ppo.KLPPO` to use the sequence protocol.
    is_sequence_policy = True
    memory_description = "the transformer memory"

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        vpt_config: str | dict[str, Any] = "1x",
        chunk_len: int | None = None,
        use_sde: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"VPTActorCriticPolicy does not take {sorted(kwargs)}: its network is VPT's")
        if use_sde:
            raise ValueError("use_sde=True is not supported by VPTActorCriticPolicy (discrete actions)")
        self.vpt_config = resolve_config(vpt_config)
        self._check_spaces(observation_space, action_space)
        self.chunk_len = int(chunk_len if chunk_len is not None else self.vpt_config.timesteps)
        if self.chunk_len < 1:
            raise ValueError(f"chunk_len must be >= 1, got {chunk_len}")
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            ortho_init=False,
            normalize_images=False,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )

    # ------------------------------------------------------------------------------------ construction

    def _check_spaces(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        s = self.vpt_config.img_size
        if not (
            isinstance(observation_space, spaces.Box)
            and observation_space.dtype == np.uint8
            and observation_space.shape in ((s, s, 3), (3, s, s))
        ):
            raise ValueError(
                f"VPTActorCriticPolicy needs Box(0, 255, ({s}, {s}, 3) or (3, {s}, {s}), uint8) observations "
                f"(the config's img_size is {s}), got {observation_space}"
            )
        wanted = action_space_of(self.vpt_config)
        if isinstance(wanted, spaces.Discrete):
            if not isinstance(action_space, spaces.Discrete) or int(action_space.n) != int(wanted.n):
                raise ValueError(
                    f"VPTActorCriticPolicy with action_space={self.vpt_config.action_space!r} needs {wanted} "
                    f"actions, got {action_space}"
                )
        else:
            want = wanted.nvec.tolist()
            if not isinstance(action_space, spaces.MultiDiscrete) or action_space.nvec.tolist() != want:
                raise ValueError(f"VPTActorCriticPolicy needs MultiDiscrete({want}) actions, got {action_space}")
        self._channels_first = observation_space.shape[0] == 3 and observation_space.shape[-1] != 3

    def _build(self, lr_schedule: Schedule) -> None:
        self.vpt = VPTPolicyNet(self.vpt_config)
        self.zero_value_head()
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def zero_value_head(self) -> None:
        """Zero the value head's weights and bias (VPT's RL started the value head from zero)."""
        with th.no_grad():
            nn.init.zeros_(self.vpt.value_head.linear.weight)
            nn.init.zeros_(self.vpt.value_head.linear.bias)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for key in ("net_arch", "activation_fn", "ortho_init", "log_std_init", "squash_output", "full_std",
                    "use_expln", "features_extractor_class", "features_extractor_kwargs", "share_features_extractor",
                    "normalize_images", "sde_net_arch"):
            data.pop(key, None)
        data.update(vpt_config=self.vpt_config.to_dict(), chunk_len=self.chunk_len)
        return data

    def load_pretrained_weights(self, source: str | PathLike | VPTPolicyNet, zero_value_head: bool = True) -> None:
        """Copy a pretrained VPT network's weights in (strict: every key and shape must match).

        :param source: a released name, a checkpoint path (see :func:`agents.vpt.io.from_pretrained`) or a
            :class:`VPTPolicyNet`.
        :param zero_value_head: zero the value head afterwards (VPT's RL did; keep False to resume).
        """
        net = source if isinstance(source, VPTPolicyNet) else load_vpt(source)
        if not isinstance(net, VPTPolicyNet):
            raise ValueError(f"{source!r} holds a {type(net).__name__}, not a VPT policy")
        if net.config != self.vpt_config:
            raise ValueError(f"checkpoint architecture {net.config} does not match this policy's {self.vpt_config}")
        self.vpt.load_state_dict(net.state_dict(), strict=True)
        if zero_value_head:
            self.zero_value_head()

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | PathLike,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule | float = 1e-5,
        zero_value_head: bool = True,
        **kwargs: Any,
    ) -> "VPTActorCriticPolicy":
        """A policy object with a pretrained checkpoint's weights (e.g. to evaluate, or to copy into an
        algorithm); to fine-tune, use :meth:`agents.sb3.kl_ppo.KLPPO.from_pretrained`.

        :param name_or_path: released name, safetensors directory or official ``.model``/``.weights`` pair.
        :param observation_space: as the constructor. :param action_space: as the constructor.
        :param lr_schedule: schedule or constant learning rate for the policy's optimizer.
        :param zero_value_head: zero the value head (True for a BC checkpoint, False to resume).
        :param kwargs: further constructor arguments (``chunk_len``...).
        """
        net = load_vpt(name_or_path)
        if not isinstance(net, VPTPolicyNet):
            raise ValueError(f"{name_or_path!r} holds a {type(net).__name__}, not a VPT policy")
        schedule = lr_schedule if callable(lr_schedule) else (lambda _: float(lr_schedule))  # noqa: E731
        policy = cls(observation_space, action_space, schedule, vpt_config=net.config.to_dict(), **kwargs)
        policy.load_pretrained_weights(net, zero_value_head=zero_value_head)
        return policy

    def save_pretrained(self, directory: PathLike) -> None:
        """Write the network (value head included) as ``config.json`` + ``model.safetensors``; reload with
        ``from_pretrained(directory, ..., zero_value_head=False)`` or :meth:`load`."""
        save_vpt(self.vpt, directory)

    def save(self, path: str) -> None:
        """SB3's ``policy.save`` writes a pickle (read back with ``weights_only=False``); here it writes the
        safetensors + JSON directory of :meth:`save_pretrained` instead."""
        self.save_pretrained(path)

    @classmethod
    def load(cls, path: str, device: th.device | str = "auto") -> "VPTActorCriticPolicy":  # type: ignore[override]
        """Inverse of :meth:`save`: the policy over ``(S, S, 3)`` uint8 frames and ``MultiDiscrete([8641, 121])``
        (``Discrete(17)`` for Crafter) with the saved weights, value head included."""
        from agents.vpt.io import load_pretrained

        net = load_pretrained(path)
        if not isinstance(net, VPTPolicyNet):
            raise ValueError(f"{path!r} holds a {type(net).__name__}, not a VPT policy")
        s = net.config.img_size
        obs_space = spaces.Box(0, 255, (s, s, 3), np.uint8)
        act_space = action_space_of(net.config)
        policy = cls(obs_space, act_space, lambda _: 0.0, vpt_config=net.config.to_dict())
        policy.load_pretrained_weights(net, zero_value_head=False)
        return policy.to(get_device(device))

    # ---------------------------------------------------------------------------------- the sequence API

    def initial_memory(self, n: int) -> Memory:
        """Empty key/value caches for ``n`` envs."""
        return self.vpt.initial_state(n, self.device)

    def _frames(self, obs: th.Tensor) -> th.Tensor:
        """(N, S, S, 3) or (N, 3, S, S) uint8 -> (N, S, S, 3) uint8."""
        if obs.dtype != th.uint8:
            if th.is_floating_point(obs) and th.equal(obs, obs.round()) and obs.min() >= 0 and obs.max() <= 255:
                obs = obs.to(th.uint8)  # SB3 buffers may hand back exact float copies of the frames
            else:
                raise ValueError(f"VPT observations must be uint8 frames in [0, 255], got dtype {obs.dtype}")
        return obs.permute(0, 2, 3, 1) if self._channels_first else obs

    def sequence_distribution(
        self, obs: th.Tensor, episode_starts: th.Tensor, memory: Memory, n_sequences: int
    ) -> tuple[MultiCategoricalDistribution | CategoricalDistribution, th.Tensor, Memory]:
        """Distributions and values of ``n_sequences`` chunks of consecutive steps.

        :param obs: (n_sequences * L, ...) observations, chunk-major.
        :param episode_starts: (n_sequences * L,) episode-start flags.
        :param memory: the caches at the start of each chunk (batch ``n_sequences``).
        :return: the distribution over the N * L steps, the (N * L, 1) values, the caches after the chunks.
        """
        frames = self._frames(obs)
        n = frames.shape[0]
        if n % n_sequences:
            raise ValueError(f"{n} steps cannot be split into {n_sequences} chunks")
        frames = frames.reshape(n_sequences, n // n_sequences, *frames.shape[1:])
        first = episode_starts.reshape(n_sequences, -1).bool()
        out, memory = self.vpt(frames, first, memory)
        if isinstance(self.action_space, spaces.Discrete):
            dist: MultiCategoricalDistribution | CategoricalDistribution = CategoricalDistribution(
                int(self.action_space.n)
            )
            dist.proba_distribution(action_logits=out.logp["action"].reshape(n, -1))
        else:
            logits = th.cat([out.logp["buttons"], out.logp["camera"]], dim=-1).reshape(n, -1)
            dist = MultiCategoricalDistribution([int(n) for n in self.action_space.nvec])
            dist.proba_distribution(action_logits=logits)
        return dist, out.vpred.reshape(n, 1), memory

    def step(
        self, obs: th.Tensor, episode_starts: th.Tensor, memory: Memory, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, Memory]:
        """One rollout step for every env: ``(actions, values, log_probs, new_memory)``."""
        dist, values, memory = self.sequence_distribution(obs, episode_starts, memory, obs.shape[0])
        actions = dist.get_actions(deterministic=deterministic)
        return actions, values, dist.log_prob(actions), memory

    def predict_values_sequence(self, obs: th.Tensor, episode_starts: th.Tensor, memory: Memory) -> th.Tensor:
        """Values of one step per env, without keeping the updated memory."""
        return self.sequence_distribution(obs, episode_starts, memory, obs.shape[0])[1]

    def evaluate_actions_sequence(
        self, obs: th.Tensor, actions: th.Tensor, episode_starts: th.Tensor, memory: Memory, n_sequences: int
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, MultiCategoricalDistribution | CategoricalDistribution]:
        """``(values, log_prob, entropy, distribution)`` of chunks (the training-time counterpart of :meth:`step`)."""
        dist, values, _ = self.sequence_distribution(obs, episode_starts, memory, n_sequences)
        return values, dist.log_prob(actions), dist.entropy(), dist

    # ------------------------------------------------------------------------------------ SB3 entry points

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: Memory | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Memory]:
        """Actions for a batch of observations, carrying the cache in ``state`` (as sb3-contrib's
        ``RecurrentPPO.predict``): pass back the returned state and the episode starts on the next call.

        :param observation: (n_envs, S, S, 3) or one (S, S, 3) frame, uint8.
        :param state: caches from the previous call (None: empty).
        :param episode_start: (n_envs,) bool; True resets that env's memory (None: all False).
        :param deterministic: argmax actions.
        :return: ``(actions (n_envs, 2) or (2,), state)``.
        """
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        n = obs_tensor.shape[0]
        if state is None:
            state = self.initial_memory(n)
        starts = th.zeros(n, dtype=th.bool, device=self.device) if episode_start is None else (
            th.as_tensor(np.asarray(episode_start, dtype=bool).reshape(-1), device=self.device)
        )
        if starts.shape[0] != n:
            raise ValueError(f"episode_start must have {n} entries, got {starts.shape[0]}")
        with th.no_grad():
            actions, _, _, state = self.step(obs_tensor, starts, state, deterministic)
        actions_np = actions.cpu().numpy()
        return (actions_np if vectorized else actions_np[0]), state
