"""A GenRL agent as a stable-baselines3 actor-critic policy over a dm_control ``Box`` action space.

:class:`GenRLActorCriticPolicy` acts on 64x64 RGB frames (``vpt_gym``'s dm_control pixel envs) through a
GenRL world model (:class:`~agents.genrl.world_model.WorldModel`):

- **features** = the world model's latent state ``concat(s_t, h_t)``: the RSSM posterior given the frames
  so far and the previous actions, filtered step by step per env exactly as GenRL's ``obs_step`` does
  (:class:`~agents.genrl.reward.LatentFilter`), with ``is_first`` zeroing the previous state and action
  at episode starts. The posterior is the **mode** of the (unimixed) categoricals, not a sample (GenRL's
  evaluation samples it): a deterministic filter is what lets training recompute the rollout's latents
  exactly (a sampled one would give other latents, hence other log-probs, on every recomputation).
- **actions**: the actor head is GenRL's :class:`~agents.genrl.behaviour.Actor` (loaded from a behaviour
  learned in imagination), whose output is a plain per-dimension ``Normal(tanh(x), (max-min) sigmoid(y+2)
  + min)`` -- GenRL's ``actor.dist normal``, not a tanh-squashed Normal (spec genrl.md 5.1).
  :class:`GenRLActorDistribution` is SB3's :class:`DiagGaussianDistribution` holding *that* ``Normal``
  object (no ``log``/``exp`` round trip of the std), so SB3's log-probs, entropy, samples and KL are the
  actor's to the bit. Samples are not bounded; KLPPO clips them to ``[-1, 1]`` for the env as SB3 does, and
  the clipped action (what the env executed) is what the world model sees as the previous action.
- **value**: a new head (``value_layers`` x ``value_units`` LayerNorm-SiLU MLP on the same features) whose
  output layer starts at **zero**, as VPT's RL fine-tuning started its value head. GenRL's critic is not
  used: it predicts returns of the *prompt* reward in imagination, another reward scale than the env's.
- **world model frozen** by default (no gradient, not in the optimizer; its latents are computed under
  ``no_grad``); ``train_world_model=True`` trains it with PPO's loss through the chunk (truncated
  back-propagation at chunk starts).

**Memory** (the sequence protocol :class:`~agents.sb3.kl_ppo.KLPPO` drives, as for
:class:`~agents.sb3.vpt_policy.VPTActorCriticPolicy`): per env, ``(h, s, previous action)`` -- the
last posterior's deterministic and stochastic parts and the clipped action taken from it. Choice:
**recompute over stored chunks**. The :class:`~agents.sb3.sequence_buffer.SequenceRolloutBuffer` stores
the memory at the start of every chunk of ``chunk_len`` steps; training re-encodes the chunk's frames and
re-runs the GRU from the stored memory, with the chunk's stored actions as previous actions, which
reproduces the rollout's latents (to float rounding). Cost: memory storage is tiny (``deter + stoch*classes
+ action_dim`` floats per env and chunk: 8 KiB with the official 1024 + 32x32 latents), but every PPO
epoch
re-runs the encoder on every frame and the GRU over every step (``n_epochs`` extra world-model passes over
the rollout, the dominant training cost; the GRU loop is sequential over ``chunk_len`` steps, batched over
the minibatch's chunks). With a frozen world model, caching per-step features would avoid the recompute
(8 KiB/step); recomputing keeps one path for frozen and trained world models. KLPPO also filters the
frozen reference policy's latents (its own world-model copy): one more no-grad pass per step and per
minibatch. Because the memory holds the previous action, the reference is given the policy's actions
(``memory_uses_actions``: :meth:`sequence_distribution` takes ``actions=``).

Checkpoints: :meth:`GenRLActorCriticPolicy.from_pretrained` (a world-model checkpoint of
:func:`agents.genrl.checkpoint.save_checkpoint` + a behaviour checkpoint of
:func:`agents.genrl.behaviour.save_behaviour`, or the objects themselves); :meth:`save_pretrained` /
:meth:`load_pretrained` write and read ``config.json`` + ``model.safetensors`` (no pickle anywhere).

Example::

    >>> import gymnasium as gym, numpy as np
    >>> from agents.genrl.world_model import WorldModel, WorldModelConfig
    >>> from agents.genrl.behaviour import ActorCritic, BehaviourConfig
    >>> from agents.sb3 import GenRLActorCriticPolicy
    >>> wm = WorldModel(WorldModelConfig.small(action_dim=2))
    >>> ac = ActorCritic(8 * 8 + 64, 2, BehaviourConfig.small())
    >>> obs_space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    >>> policy = GenRLActorCriticPolicy.from_pretrained(wm, ac, obs_space, gym.spaces.Box(-1, 1, (2,)))
    >>> actions, memory = policy.predict(obs_space.sample()[None], episode_start=[True])
    >>> actions.shape
    (1, 2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import get_device
from torch import nn

from agents.checkpoints import (
    CheckpointError,
    PathLike,
    check_module_against,
    load_json,
    load_safetensors,
    load_state_dict_strict,
    read_safetensors_header,
    save_json,
    save_safetensors,
)
from agents.genrl.behaviour import Actor, ActorCritic
from agents.genrl.networks import MLP
from agents.genrl.world_model import WorldModel, WorldModelConfig
from agents.sb3.sequence_buffer import Memory
from agents.sb3.sequence_policy import MemoryOnlyEntryPoints

#: ``config.json`` format tag and version of :meth:`GenRLActorCriticPolicy.save_pretrained`.
FORMAT, VERSION = "vpt_gym.sb3.genrl_policy", 1
CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"
IMAGE_SHAPES = ((64, 64, 3), (3, 64, 64))


class GenRLActorDistribution(DiagGaussianDistribution):
    """SB3's diagonal Gaussian holding GenRL's actor output itself (a ``torch.distributions.Normal`` with a
    state-dependent std): log-probs and entropies are summed over action dimensions, samples are
    reparameterised, the mode is the mean -- all as :class:`DiagGaussianDistribution`.

    :param action_dim: action size.
    """

    def proba_distribution_from_normal(self, normal: th.distributions.Normal) -> "GenRLActorDistribution":
        """Use ``normal`` (batch ``(N, action_dim)``) as the distribution."""
        if not isinstance(normal, th.distributions.Normal) or normal.mean.shape[-1] != self.action_dim:
            raise ValueError(f"expected a Normal over {self.action_dim} action dimensions, got {normal!r}")
        self.distribution = normal
        return self


def resolve_world_model_config(config: str | dict[str, Any] | WorldModelConfig, action_dim: int) -> WorldModelConfig:
    """A :class:`WorldModelConfig` from ``"small"``/``"official"``, its ``to_dict()`` form or itself."""
    if isinstance(config, WorldModelConfig):
        return config
    if isinstance(config, dict):
        return WorldModelConfig.from_dict(config)
    if config == "small":
        return WorldModelConfig.small(action_dim=action_dim)
    if config == "official":
        return WorldModelConfig.official(action_dim=action_dim)
    raise ValueError(f"world_model_config must be 'small', 'official', a dict or a WorldModelConfig, got {config!r}")


class GenRLActorCriticPolicy(MemoryOnlyEntryPoints, ActorCriticPolicy):
    """A GenRL world model + actor as an SB3 actor-critic policy (see the module docstring).

    :param observation_space: ``Box(0, 255, (64, 64, 3) or (3, 64, 64), uint8)`` (SB3 transposes image
        envs to channels-first; both are accepted).
    :param action_space: ``Box(-1, 1, (A,))`` with ``A`` the world model's ``action_dim``.
    :param lr_schedule: learning-rate schedule (given by the algorithm).
    :param world_model_config: ``"small"``, ``"official"`` or ``WorldModelConfig.to_dict()`` (JSON-able, so
        SB3's ``save`` keeps it as plain JSON).
    :param actor_layers: hidden layers of the actor MLP (GenRL: 4). :param actor_units: their width (1024).
    :param min_std: actor std lower bound (0.1). :param max_std: upper bound (1.0).
    :param value_layers: hidden layers of the value head. :param value_units: their width.
    :param train_world_model: train the world model with the PPO loss (default False: frozen).
    :param chunk_len: training chunk length in steps (``n_steps`` and ``batch_size`` must be multiples).
    :param use_sde: must be False (given by PPO).
    :param optimizer_class: optimizer. :param optimizer_kwargs: its kwargs.
    :param kwargs: other :class:`ActorCriticPolicy` arguments are refused (the network is GenRL's).
    """

    #: Tells :class:`~agents.sb3.kl_ppo.KLPPO` to use the sequence protocol.
    is_sequence_policy = True
    memory_description = "the world model's latent state"
    #: The memory holds the previous action: KLPPO passes the policy's actions to the reference.
    memory_uses_actions = True

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        world_model_config: str | dict[str, Any] = "small",
        actor_layers: int = 4,
        actor_units: int = 1024,
        min_std: float = 0.1,
        max_std: float = 1.0,
        value_layers: int = 2,
        value_units: int = 256,
        train_world_model: bool = False,
        chunk_len: int = 32,
        use_sde: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"GenRLActorCriticPolicy does not take {sorted(kwargs)}: its network is GenRL's")
        if use_sde:
            raise ValueError("use_sde=True is not supported by GenRLActorCriticPolicy (the actor gives the std)")
        action_dim = self._check_action_space(action_space)
        self.wm_config = resolve_world_model_config(world_model_config, action_dim)
        if self.wm_config.action_dim != action_dim:
            raise ValueError(
                f"the world model takes {self.wm_config.action_dim}-d actions, the action space has {action_dim}"
            )
        self._check_observation_space(observation_space)
        for name, value in (("actor_layers", actor_layers), ("actor_units", actor_units),
                            ("value_layers", value_layers), ("value_units", value_units), ("chunk_len", chunk_len)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 < min_std < max_std:
            raise ValueError(f"need 0 < min_std < max_std, got min_std={min_std}, max_std={max_std}")
        self.actor_kwargs = dict(layers=int(actor_layers), units=int(actor_units), min_std=float(min_std),
                                 max_std=float(max_std))
        self.value_kwargs = dict(layers=int(value_layers), units=int(value_units))
        self.train_world_model = bool(train_world_model)
        self.chunk_len = int(chunk_len)
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

    @staticmethod
    def _check_action_space(action_space: spaces.Space) -> int:
        if not (isinstance(action_space, spaces.Box) and len(action_space.shape) == 1
                and np.all(action_space.low == -1.0) and np.all(action_space.high == 1.0)):
            raise ValueError(
                f"GenRLActorCriticPolicy needs Box(-1, 1, (action_dim,)) actions (GenRL's actions), got {action_space}"
            )
        return int(action_space.shape[0])

    def _check_observation_space(self, observation_space: spaces.Space) -> None:
        if not (isinstance(observation_space, spaces.Box) and observation_space.dtype == np.uint8
                and observation_space.shape in IMAGE_SHAPES):
            raise ValueError(
                "GenRLActorCriticPolicy needs Box(0, 255, (64, 64, 3) or (3, 64, 64), uint8) observations "
                f"(the world model's frames), got {observation_space}"
            )
        self._channels_first = observation_space.shape == (3, 64, 64)

    @property
    def feature_dim(self) -> int:
        """Size of the latent features ``concat(s, h)``: ``stoch * classes + deter``."""
        return self.wm_config.stoch * self.wm_config.classes + self.wm_config.deter

    def _build(self, lr_schedule: Schedule) -> None:
        action_dim = int(self.action_space.shape[0])
        self.world_model = WorldModel(self.wm_config)
        self.actor = Actor(self.feature_dim, action_dim, **self.actor_kwargs)
        self.value_net = MLP(self.feature_dim, 1, self.value_kwargs["layers"], self.value_kwargs["units"],
                             zero_output=True)
        self.action_dist = GenRLActorDistribution(action_dim)
        self.world_model.requires_grad_(self.train_world_model)
        params = [p for p in self.parameters() if p.requires_grad]
        self.optimizer = self.optimizer_class(params, lr=lr_schedule(1), **self.optimizer_kwargs)

    def zero_value_head(self) -> None:
        """Zero the value head's output layer (the value is then 0 everywhere)."""
        with th.no_grad():
            nn.init.zeros_(self.value_net.out.weight)
            nn.init.zeros_(self.value_net.out.bias)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for key in ("net_arch", "activation_fn", "ortho_init", "log_std_init", "squash_output", "full_std",
                    "use_expln", "features_extractor_class", "features_extractor_kwargs", "share_features_extractor",
                    "normalize_images", "sde_net_arch"):
            data.pop(key, None)
        data.update(self.architecture())
        return data

    def architecture(self) -> dict[str, Any]:
        """The JSON-able constructor arguments that fix the network (what ``config.json`` stores)."""
        a, v = self.actor_kwargs, self.value_kwargs
        return dict(world_model_config=self.wm_config.to_dict(), actor_layers=a["layers"], actor_units=a["units"],
                    min_std=a["min_std"], max_std=a["max_std"], value_layers=v["layers"], value_units=v["units"],
                    train_world_model=self.train_world_model, chunk_len=self.chunk_len)

    def load_pretrained_weights(
        self, world_model: WorldModel, actor: Actor | ActorCritic, zero_value_head: bool = True
    ) -> None:
        """Copy a world model's and a behaviour actor's weights in (strict: every key and shape must match).

        :param world_model: the GenRL world model (its config must equal this policy's).
        :param actor: the behaviour's :class:`Actor` (or its :class:`ActorCritic`).
        :param zero_value_head: zero the value head afterwards.
        """
        if isinstance(actor, ActorCritic):
            actor = actor.actor
        if not isinstance(world_model, WorldModel):
            raise TypeError(f"world_model must be a WorldModel, got {type(world_model).__name__}")
        if not isinstance(actor, Actor):
            raise TypeError(f"actor must be a GenRL Actor or ActorCritic, got {type(actor).__name__}")
        if world_model.config != self.wm_config:
            raise ValueError(f"world model config {world_model.config} does not match this policy's {self.wm_config}")
        if (actor.min_std, actor.max_std) != (self.actor_kwargs["min_std"], self.actor_kwargs["max_std"]):
            raise ValueError(f"actor std range {(actor.min_std, actor.max_std)} does not match this policy's "
                             f"{(self.actor_kwargs['min_std'], self.actor_kwargs['max_std'])}")
        load_state_dict_strict(self.world_model, world_model.state_dict(), "world model")
        load_state_dict_strict(self.actor, actor.state_dict(), "behaviour actor")
        if zero_value_head:
            self.zero_value_head()

    @staticmethod
    def load_sources(world_model: WorldModel | PathLike, behaviour: ActorCritic | Actor | PathLike
                     ) -> tuple[WorldModel, Actor]:
        """The world model and actor of checkpoint paths (or the objects themselves).

        :param world_model: a :func:`~agents.genrl.checkpoint.save_checkpoint` file or a :class:`WorldModel`.
        :param behaviour: a :func:`~agents.genrl.behaviour.save_behaviour` file, an ``ActorCritic`` or an ``Actor``.
        """
        if not isinstance(world_model, WorldModel):
            from agents.genrl.checkpoint import load_checkpoint

            world_model = load_checkpoint(world_model, restore_rng=False).model
        if isinstance(behaviour, ActorCritic):
            behaviour = behaviour.actor
        elif not isinstance(behaviour, Actor):
            from agents.genrl.behaviour import load_behaviour

            behaviour = load_behaviour(behaviour)[0].actor  # leaves the caller's torch RNG as it was
        return world_model, behaviour

    @classmethod
    def pretrained_kwargs(cls, world_model: WorldModel, actor: Actor) -> dict[str, Any]:
        """Constructor kwargs whose architecture fits ``world_model`` and ``actor``."""
        hidden = actor.net.hidden
        if len(hidden) == 0:
            raise ValueError("the behaviour actor has no hidden layer; GenRL actors have at least one")
        feat = world_model.config.stoch * world_model.config.classes + world_model.config.deter
        in_dim = int(hidden[0][0].in_features)  # DenseLNBlock = Linear -> LayerNorm -> SiLU
        if in_dim != feat:
            raise ValueError(f"the behaviour actor takes {in_dim}-d features, the world model gives {feat}")
        if actor.action_dim != world_model.config.action_dim:
            raise ValueError(f"the behaviour actor has {actor.action_dim}-d actions, the world model "
                             f"{world_model.config.action_dim}")
        return dict(world_model_config=world_model.config.to_dict(), actor_layers=len(hidden),
                    actor_units=int(actor.net.out.in_features), min_std=float(actor.min_std),
                    max_std=float(actor.max_std))

    @classmethod
    def from_pretrained(
        cls,
        world_model: WorldModel | PathLike,
        behaviour: ActorCritic | Actor | PathLike,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
        lr_schedule: Schedule | float = 3e-5,
        **kwargs: Any,
    ) -> "GenRLActorCriticPolicy":
        """A policy with a world model's and a behaviour's weights (value head zero); to fine-tune, use
        :meth:`agents.sb3.kl_ppo.KLPPO.from_pretrained` with ``behaviour=``.

        :param world_model: world-model checkpoint (``save_checkpoint``) or a :class:`WorldModel`.
        :param behaviour: behaviour checkpoint (``save_behaviour``), an ``ActorCritic`` or an ``Actor``.
        :param observation_space: default ``Box(0, 255, (64, 64, 3), uint8)``.
        :param action_space: default ``Box(-1, 1, (action_dim,))``.
        :param lr_schedule: schedule or constant learning rate.
        :param kwargs: further constructor arguments (``value_units``, ``chunk_len``, ``train_world_model``...).
        """
        wm, actor = cls.load_sources(world_model, behaviour)
        obs_space = observation_space or spaces.Box(0, 255, (64, 64, 3), np.uint8)
        act_space = action_space or spaces.Box(-1.0, 1.0, (wm.config.action_dim,), np.float32)
        schedule = lr_schedule if callable(lr_schedule) else (lambda _: float(lr_schedule))  # noqa: E731
        policy = cls(obs_space, act_space, schedule, **{**cls.pretrained_kwargs(wm, actor), **kwargs})
        policy.load_pretrained_weights(wm, actor)
        return policy

    def save_pretrained(self, directory: PathLike) -> Path:
        """Write ``config.json`` (architecture, spaces' sizes) + ``model.safetensors`` (every weight)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"format": FORMAT, "version": VERSION, "architecture": self.architecture(),
                  "observation_shape": list(self.observation_space.shape),
                  "action_dim": int(self.action_space.shape[0])}
        save_safetensors(directory / WEIGHTS_NAME, self.state_dict(), metadata={"format": FORMAT})
        save_json(directory / CONFIG_NAME, config)
        return directory

    @staticmethod
    def is_pretrained_dir(path: PathLike) -> bool:
        """Whether ``path`` is a directory written by :meth:`save_pretrained`."""
        config = Path(path) / CONFIG_NAME
        if not config.is_file():
            return False
        try:
            return load_json(config).get("format") == FORMAT
        except CheckpointError:
            return False

    @classmethod
    def load_pretrained(cls, directory: PathLike, device: th.device | str = "cpu", **kwargs: Any
                        ) -> "GenRLActorCriticPolicy":
        """Inverse of :meth:`save_pretrained`: the same weights, value head included.

        :param directory: the directory. :param device: where to put the policy.
        :param kwargs: constructor overrides that do not change the weights' shapes (``chunk_len``,
            ``train_world_model``, ``lr_schedule`` as a schedule or a float).
        :raises CheckpointError: on a foreign, corrupt or mismatching directory.
        """
        directory = Path(directory)
        config = load_json(directory / CONFIG_NAME)
        if config.get("format") != FORMAT or config.get("version") != VERSION:
            raise CheckpointError(f"{directory}: not a {FORMAT!r} v{VERSION} directory "
                                  f"(format {config.get('format')!r} v{config.get('version')!r})")
        try:
            arch = dict(config["architecture"])
            obs_shape, action_dim = tuple(config["observation_shape"]), int(config["action_dim"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{directory}/{CONFIG_NAME} is incomplete: {err!r}") from err
        lr = kwargs.pop("lr_schedule", 0.0)
        arch.update({k: kwargs.pop(k) for k in ("chunk_len", "train_world_model") if k in kwargs})
        if kwargs:
            raise TypeError(f"load_pretrained does not take {sorted(kwargs)}")
        schedule = lr if callable(lr) else (lambda _: float(lr))  # noqa: E731
        obs_space = spaces.Box(0, 255, obs_shape, np.uint8)
        act_space = spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        # sizes come from config.json: check them against the weights' header before building the policy
        specs, _ = read_safetensors_header(directory / WEIGHTS_NAME)
        check_module_against(lambda: cls(obs_space, act_space, schedule, **arch), specs,
                             str(directory / WEIGHTS_NAME))
        policy = cls(obs_space, act_space, schedule, **arch)
        load_state_dict_strict(policy, load_safetensors(directory / WEIGHTS_NAME), str(directory / WEIGHTS_NAME))
        return policy.to(get_device(device))

    def save(self, path: str) -> None:
        """SB3's ``policy.save`` writes a pickle; here it writes :meth:`save_pretrained`'s directory."""
        self.save_pretrained(path)

    @classmethod
    def load(cls, path: str, device: th.device | str = "auto") -> "GenRLActorCriticPolicy":  # type: ignore[override]
        """Inverse of :meth:`save` (see :meth:`load_pretrained`)."""
        return cls.load_pretrained(path, get_device(device))

    # ---------------------------------------------------------------------------------- the sequence API

    def initial_memory(self, n: int) -> Memory:
        """Zero memories ``(h, s, previous action)`` for ``n`` envs (GenRL's initial state)."""
        c = self.wm_config
        return (th.zeros(n, c.deter, device=self.device), th.zeros(n, c.stoch * c.classes, device=self.device),
                th.zeros(n, c.action_dim, device=self.device))

    def _frames(self, obs: th.Tensor) -> th.Tensor:
        """(N, 64, 64, 3) or (N, 3, 64, 64) uint8 -> (N, 3, 64, 64) uint8."""
        if obs.dtype != th.uint8:
            if th.is_floating_point(obs) and th.equal(obs, obs.round()) and obs.min() >= 0 and obs.max() <= 255:
                obs = obs.to(th.uint8)  # SB3 buffers may hand back exact float copies of the frames
            else:
                raise ValueError(f"GenRL observations must be uint8 frames in [0, 255], got dtype {obs.dtype}")
        if obs.dim() != 4:
            raise ValueError(f"observations must be a batch (N, 64, 64, 3) or (N, 3, 64, 64), got {tuple(obs.shape)}")
        frames = obs if self._channels_first else obs.permute(0, 3, 1, 2)
        if tuple(frames.shape[1:]) != (3, 64, 64):
            raise ValueError(f"observations must be 64x64 RGB frames, got {tuple(obs.shape)}")
        return frames

    def clip_actions(self, actions: th.Tensor) -> th.Tensor:
        """Actions as the env executes them: clipped to ``[-1, 1]`` (what the world model sees next)."""
        return actions.clamp(-1.0, 1.0)

    def latents(
        self, obs: th.Tensor, episode_starts: th.Tensor, memory: Memory, n_sequences: int,
        actions: th.Tensor | None = None,
    ) -> tuple[th.Tensor, Memory | None]:
        """The posterior features of ``n_sequences`` chunks of consecutive steps, and the memory after them.

        :param obs: (n_sequences * L, ...) frames, chunk-major.
        :param episode_starts: (n_sequences * L,) episode-start flags (``is_first``).
        :param memory: ``(h, s, previous action)`` at the start of each chunk (batch ``n_sequences``).
        :param actions: (n_sequences * L, A) actions taken at these steps (unclipped is fine); needed when
            L > 1 (previous actions inside the chunk) and for the returned memory.
        :return: (features (n_sequences * L, feature_dim), memory after the last step or None without actions).
        """
        frames = self._frames(obs)
        n = frames.shape[0]
        if n_sequences < 1 or n % n_sequences:
            raise ValueError(f"{n} steps cannot be split into {n_sequences} chunks")
        length = n // n_sequences
        if actions is None and length > 1:
            raise ValueError("chunks of more than one step need their actions (previous actions of the GRU)")
        if actions is not None and tuple(actions.shape) != (n, self.wm_config.action_dim):
            raise ValueError(f"actions must be ({n}, {self.wm_config.action_dim}), got {tuple(actions.shape)}")
        deter0, stoch0, action0 = memory
        if deter0.shape[0] != n_sequences:
            raise ValueError(f"memory holds {deter0.shape[0]} states for {n_sequences} chunks")
        rssm = self.world_model.rssm
        first = episode_starts.reshape(n_sequences, length).bool()
        grad = th.enable_grad() if self.train_world_model and th.is_grad_enabled() else th.no_grad()
        with grad:
            embed = self.world_model.encode(frames).reshape(n_sequences, length, -1)
            stoch = rssm.draw(rssm.posterior_logits(embed), sample=False)  # the posterior's mode, (N, L, S*K)
            keep = (~first).to(embed.dtype).unsqueeze(-1)
            prev_stoch = th.cat([stoch0.unsqueeze(1), stoch[:, :-1]], 1) * keep
            prev_action = action0.unsqueeze(1)
            if length > 1:
                chunk_actions = self.clip_actions(actions.reshape(n_sequences, length, -1).to(embed.dtype))
                prev_action = th.cat([prev_action, chunk_actions[:, :-1]], 1)
            x = rssm.gru.input_projection(rssm.img_in(th.cat([prev_stoch, prev_action * keep], -1)))
            w_h = rssm.gru.recurrent_weight()
            h, deters = deter0, []
            for x_t, keep_t in zip(x.unbind(1), keep.unbind(1)):
                h = rssm.gru.step_projected(x_t, h * keep_t, w_h)
                deters.append(h)
            deter = th.stack(deters, 1)
        features = th.cat([stoch, deter], -1).reshape(n, -1)
        new_memory = None
        if actions is not None:
            last_action = self.clip_actions(actions.reshape(n_sequences, length, -1)[:, -1].to(embed.dtype))
            new_memory = (deter[:, -1].detach(), stoch[:, -1].detach(), last_action.detach())
        return features, new_memory

    def _distribution(self, features: th.Tensor) -> GenRLActorDistribution:
        dist = GenRLActorDistribution(int(self.action_space.shape[0]))
        return dist.proba_distribution_from_normal(self.actor(features))

    def sequence_distribution(
        self, obs: th.Tensor, episode_starts: th.Tensor, memory: Memory, n_sequences: int,
        actions: th.Tensor | None = None,
    ) -> tuple[GenRLActorDistribution, th.Tensor, Memory | None]:
        """Distributions and values of chunks (see :meth:`latents`): ``(distribution over the N * L steps,
        (N * L, 1) values, memory after the chunks or None without actions)``."""
        features, new_memory = self.latents(obs, episode_starts, memory, n_sequences, actions)
        return self._distribution(features), self.value_net(features), new_memory

    def step(
        self, obs: th.Tensor, episode_starts: th.Tensor, memory: Memory, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, Memory]:
        """One rollout step for every env: ``(actions, values, log_probs, new_memory)``; the new memory
        holds the posterior of ``obs`` and the clipped action."""
        features, _ = self.latents(obs, episode_starts, memory, obs.shape[0])
        dist = self._distribution(features)
        actions = dist.get_actions(deterministic=deterministic)
        c = self.wm_config
        new_memory = (features[:, c.stoch * c.classes:].detach(), features[:, : c.stoch * c.classes].detach(),
                      self.clip_actions(actions).detach())
        return actions, self.value_net(features), dist.log_prob(actions), new_memory

    def predict_values_sequence(self, obs: th.Tensor, episode_starts: th.Tensor, memory: Memory) -> th.Tensor:
        """Values of one step per env (the memory is not advanced)."""
        features, _ = self.latents(obs, episode_starts, memory, obs.shape[0])
        return self.value_net(features)

    def evaluate_actions_sequence(
        self, obs: th.Tensor, actions: th.Tensor, episode_starts: th.Tensor, memory: Memory, n_sequences: int
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, GenRLActorDistribution]:
        """``(values, log_prob, entropy, distribution)`` of chunks (the training-time counterpart of :meth:`step`)."""
        dist, values, _ = self.sequence_distribution(obs, episode_starts, memory, n_sequences, actions)
        return values, dist.log_prob(actions), dist.entropy(), dist

    # ------------------------------------------------------------------------------------ SB3 entry points

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: Memory | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Memory]:
        """Actions (clipped to ``[-1, 1]``) for a batch of frames, carrying the latent state in ``state`` (as
        sb3-contrib's ``RecurrentPPO.predict``): pass back the returned state and the episode starts.

        :param observation: (n_envs, 64, 64, 3) or one (64, 64, 3) frame, uint8 (or channels-first).
        :param state: memory from the previous call (None: zeros, and every env starts an episode).
        :param episode_start: (n_envs,) bool; True resets that env's latent state (None: all False, or all
            True when ``state`` is None).
        :param deterministic: the actor's mean (GenRL's evaluation action).
        :return: ``(actions (n_envs, A) or (A,), state)``.
        """
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        n = obs_tensor.shape[0]
        fresh = state is None
        if fresh:
            state = self.initial_memory(n)
        if episode_start is None:
            starts = th.full((n,), fresh, dtype=th.bool, device=self.device)
        else:
            starts = th.as_tensor(np.asarray(episode_start, dtype=bool).reshape(-1), device=self.device)
        if starts.shape[0] != n:
            raise ValueError(f"episode_start must have {n} entries, got {starts.shape[0]}")
        with th.no_grad():
            actions, _, _, state = self.step(obs_tensor, starts, state, deterministic)
        actions_np = self.clip_actions(actions).cpu().numpy()
        return (actions_np if vectorized else actions_np[0]), state

