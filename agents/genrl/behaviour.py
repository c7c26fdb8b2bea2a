"""Behaviour learning in the world model's imagination (GenRL's "imag" actor-critic, spec section 5).

Per update (:meth:`ActorCritic.update`), from N start states (offline: posteriors of a data batch; data-free:
see :func:`data_free_starts`):

1. imagine 16 steps with the actor (it sees stop-gradient features; actions are ``rsample``-d), T = 17 states;
2. rewards r_0..r_16 = the prompt reward of every state (:class:`agents.genrl.reward.PromptReward`);
3. lambda-returns with the *slow* critic, R_t = r_t + 0.99 [(1 - 0.95) v_{t+1} + 0.95 R_{t+1}], t = 0..15,
   R_16 = v_16; weights w_t = 0.99^t (constant discount, no continue head);
4. percentile normalisation: EMA (rate 0.01) of the 5th/95th percentiles of R, offset = p5,
   scale = max(1, p95 - p5);
5. actor loss = -mean(w_{0..14} * normed R_{1..15}), gradient by **dynamics backprop** through the frozen
   world model (rewards and slow-critic values are differentiable functions of the imagined states);
   entropy coefficient 0 (GenRL);
6. critic loss = -mean(w_t log p_twohot(sg(R_t) | sg(feat_t))), t = 0..15, 255 bins in symlog space over
   [-20, 20], zero-initialised output;
7. Adam (lr 3e-5, eps 1e-5) after gradient-norm clipping at 100 and decoupled weight decay 1e-6, for actor and
   critic separately; the slow critic is a hard copy of the critic every 100 updates (from the first).

The reference runs fp16 autocast on GPU and fp32 on the CPU (spec section 11); this module runs fp32.

Data-free starts (spec 5.3): N/2 states with h = 0 and s either uniform (each categorical uniform, logits set to
uniform) or, with probability 0.5, the s of connector rollouts of per-step random unit embeddings (aligner on,
sampled); from those same states, 5 warm-up prior steps with uniform random actions and 5 with the current
actor; the two sets of last states are the N starts.

Example::

    >>> import torch
    >>> from agents.genrl.world_model import WorldModel, WorldModelConfig
    >>> from agents.genrl.connector import Connector, ConnectorConfig
    >>> from agents.genrl.reward import MFWM
    >>> wm = WorldModel(WorldModelConfig.small(action_dim=2))
    >>> model = MFWM(wm, Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16)))
    >>> policy = learn_behaviour(model, torch.ones(16), steps=2, config=BehaviourConfig.small(), progress=False)
    >>> policy.act(torch.zeros(1, 3, 64, 64, dtype=torch.uint8)).shape
    (1, 2)
"""
from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from agents.checkpoints import CheckpointError
from agents.genrl.networks import MLP
from agents.genrl.reward import MFWM, LatentFilter, PromptReward
from agents.genrl.rssm import LatentState
from agents.genrl.world_model import TwoHotHead, apply_gradients
from agents.resume import check_resumable, open_metrics_log
from vpt_gym.atomic_file import write_atomic


@dataclass
class BehaviourConfig:
    """Hyper-parameters of the imag actor-critic (defaults = GenRL's).

    :param horizon: imagination steps (16). :param discount: gamma (0.99). :param lambda_: lambda (0.95).
    :param actor_layers, actor_units: actor MLP (4 x 1024, LN, SiLU).
    :param critic_layers, critic_units: critic MLP (4 x 1024). :param critic_bins: two-hot bins (255).
    :param critic_range: symlog bin range (20). :param min_std, max_std: actor std range (0.1, 1.0).
    :param actor_lr, critic_lr: Adam learning rates (3e-5). :param adam_eps: (1e-5).
    :param grad_clip: gradient-norm clip (100). :param weight_decay: decoupled decay (1e-6).
    :param slow_critic_every: hard copy period of the slow critic (100 updates).
    :param return_ema_rate: percentile EMA rate (0.01). :param return_percentiles: (0.05, 0.95).
    :param actor_entropy: entropy bonus (0 for GenRL).
    :param batch_size, batch_length: start states per update = batch_size * batch_length (32 x 32).
    :param warmup_steps: data-free warm-up steps (5). :param connector_fraction: data-free mix (0.5).
    """

    horizon: int = 16
    discount: float = 0.99
    lambda_: float = 0.95
    actor_layers: int = 4
    actor_units: int = 1024
    critic_layers: int = 4
    critic_units: int = 1024
    critic_bins: int = 255
    critic_range: float = 20.0
    min_std: float = 0.1
    max_std: float = 1.0
    actor_lr: float = 3e-5
    critic_lr: float = 3e-5
    adam_eps: float = 1e-5
    grad_clip: float = 100.0
    weight_decay: float = 1e-6
    slow_critic_every: int = 100
    return_ema_rate: float = 0.01
    return_percentiles: tuple[float, float] = (0.05, 0.95)
    actor_entropy: float = 0.0
    batch_size: int = 32
    batch_length: int = 32
    warmup_steps: int = 5
    connector_fraction: float = 0.5

    def __post_init__(self) -> None:
        self.return_percentiles = tuple(self.return_percentiles)  # type: ignore[assignment]
        for name in ("horizon", "actor_layers", "actor_units", "critic_layers", "critic_units", "critic_bins",
                     "slow_critic_every", "batch_size", "batch_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"BehaviourConfig.{name} must be a positive int, got {value!r}")
        if self.horizon < 2:
            raise ValueError(f"BehaviourConfig.horizon must be >= 2, got {self.horizon}")
        if (self.batch_size * self.batch_length) % 2:
            raise ValueError("batch_size * batch_length must be even (data-free mode uses half of it twice)")
        if not 0.0 <= self.connector_fraction <= 1.0:
            raise ValueError(f"connector_fraction must be in [0, 1], got {self.connector_fraction}")

    @classmethod
    def small(cls, **overrides: Any) -> "BehaviourConfig":
        """A CPU-sized variant: 2 x 64 actor and critic, 8 x 8 start states, learning rates 1e-3 (the small
        networks and few updates of CPU runs need larger steps than GenRL's 3e-5). Horizon, discount,
        lambda, return normalisation and the rest stay GenRL's."""
        base = dict(actor_layers=2, actor_units=64, critic_layers=2, critic_units=64, batch_size=8,
                    batch_length=8, actor_lr=1e-3, critic_lr=1e-3)
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["return_percentiles"] = list(self.return_percentiles)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BehaviourConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown BehaviourConfig keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**dict(data))


class Actor(nn.Module):
    """Gaussian actor: mean = tanh(x), std = (max - min) sigmoid(y + 2) + min.

    :param feat_dim: model feature size. :param action_dim: action size.
    :param layers, units: MLP shape. :param min_std, max_std: std range.
    """

    def __init__(self, feat_dim: int, action_dim: int, layers: int = 4, units: int = 1024,
                 min_std: float = 0.1, max_std: float = 1.0) -> None:
        super().__init__()
        self.net = MLP(feat_dim, 2 * action_dim, layers, units)
        self.action_dim, self.min_std, self.max_std = action_dim, min_std, max_std

    def forward(self, feature: torch.Tensor) -> torch.distributions.Normal:
        mean, std = self.net(feature).chunk(2, -1)
        std = (self.max_std - self.min_std) * torch.sigmoid(std + 2.0) + self.min_std
        return torch.distributions.Normal(torch.tanh(mean), std)


def lambda_returns(reward: torch.Tensor, value: torch.Tensor, discount: float, lambda_: float) -> torch.Tensor:
    """R_t = r_t + gamma [(1 - lambda) v_{t+1} + lambda R_{t+1}] for t = 0..T-2, R_{T-1} = v_{T-1} (bootstrap).

    :param reward: (T, ...) rewards of every state. :param value: (T, ...) slow-critic values.
    :return: (T - 1, ...) returns.
    """
    if reward.shape != value.shape:
        raise ValueError(f"reward {tuple(reward.shape)} and value {tuple(value.shape)} must have the same shape")
    out = []
    last = value[-1]
    for t in reversed(range(reward.shape[0] - 1)):
        last = reward[t] + discount * ((1.0 - lambda_) * value[t + 1] + lambda_ * last)
        out.append(last)
    return torch.stack(out[::-1])


class ReturnNormalizer(nn.Module):
    """EMA of the 5th and 95th percentiles of the returns: offset = p5, scale = max(1, p95 - p5).

    :param rate: EMA rate (0.01). :param percentiles: (0.05, 0.95).
    """

    def __init__(self, rate: float = 0.01, percentiles: Sequence[float] = (0.05, 0.95)) -> None:
        super().__init__()
        self.rate = rate
        self.register_buffer("q", torch.tensor(list(percentiles)))
        self.register_buffer("values", torch.zeros(2))

    def forward(self, returns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Update the EMA with ``returns`` and give (offset, scale), detached."""
        quantiles = torch.quantile(returns.detach().flatten().float(), self.q)
        self.values.copy_(self.rate * quantiles + (1.0 - self.rate) * self.values)
        return self.values[0].clone(), torch.clamp(self.values[1] - self.values[0], min=1.0)


class ActorCritic(nn.Module):
    """GenRL's imag actor-critic on a frozen world model (see the module docstring).

    :param feat_dim: model feature size (stoch * classes + deter). :param action_dim: action size.
    :param config: :class:`BehaviourConfig`.
    """

    def __init__(self, feat_dim: int, action_dim: int, config: BehaviourConfig) -> None:
        super().__init__()
        c = self.config = config
        self.feat_dim, self.action_dim = feat_dim, action_dim
        self.actor = Actor(feat_dim, action_dim, c.actor_layers, c.actor_units, c.min_std, c.max_std)
        self.critic = TwoHotHead(feat_dim, c.critic_layers, c.critic_units, c.critic_bins, c.critic_range)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.return_norm = ReturnNormalizer(c.return_ema_rate, c.return_percentiles)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr, eps=c.adam_eps, foreach=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=c.critic_lr, eps=c.adam_eps, foreach=True)
        self.updates = 0

    def policy(self, feature: torch.Tensor) -> torch.Tensor:
        """Imagination action: a reparameterised sample of the actor's Normal."""
        return self.actor(feature).rsample()

    def update(self, world_model: nn.Module, start: LatentState, reward_fn: Callable[[LatentState], torch.Tensor]
               ) -> dict[str, float]:
        """One actor and one critic step from start states (N,). ``reward_fn`` maps (T, N) states to (T, N, 1)."""
        c = self.config
        start = start.detach()
        states, actions = world_model.rssm.imagine(start, self.policy, c.horizon)
        feat = states.feature()  # (T, N, F), differentiable w.r.t. the actions
        reward = reward_fn(states)[..., 0]  # (T, N)
        value = self.slow_critic.mean(self.slow_critic(feat))  # gradient flows into feat only
        returns = lambda_returns(reward, value, c.discount, c.lambda_)  # (T-1, N)
        weight = c.discount ** torch.arange(feat.shape[0], dtype=feat.dtype).unsqueeze(-1)  # (T, 1)
        offset, scale = self.return_norm(returns)
        normed = (returns - offset) / scale
        objective = normed[1:]
        if c.actor_entropy:
            dist = self.actor(feat[:-2].detach())
            objective = objective + c.actor_entropy * dist.entropy().sum(-1)
        actor_loss = -(weight[:-2] * objective).mean()
        actor_norm = apply_gradients(self.actor, self.actor_opt, actor_loss, c.grad_clip, c.weight_decay)

        logits = self.critic(feat[:-1].detach())
        critic_loss = -(self.critic.log_prob(logits, returns.detach()) * weight[:-1]).mean()
        critic_norm = apply_gradients(self.critic, self.critic_opt, critic_loss, c.grad_clip, c.weight_decay)
        if self.updates % c.slow_critic_every == 0:
            self.slow_critic.load_state_dict(self.critic.state_dict())
        self.updates += 1
        return {
            "actor_loss": actor_loss.item(), "critic_loss": critic_loss.item(),
            "reward_mean": reward.mean().item(), "reward_max": reward.max().item(),
            "return_mean": returns.mean().item(), "value_mean": value.mean().item(),
            "return_p05": self.return_norm.values[0].item(), "return_p95": self.return_norm.values[1].item(),
            "actor_grad_norm": actor_norm, "critic_grad_norm": critic_norm,
            "action_std": self.actor(feat[:-1].detach()).stddev.mean().item(),
            # mean |a| of the imagined actions: near 1 means a saturated (bang-bang) actor, the signature of
            # a policy exploiting a world model that never saw sustained extreme actions (issue #7)
            "action_abs_mean": actions[:-1].detach().abs().mean().item(),
        }


# --------------------------------------------------------------------------------------------- start states
def uniform_stoch(n: int, stoch: int, classes: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Flattened one-hot states (n, stoch * classes), every categorical uniform over its classes."""
    idx = torch.randint(0, classes, (n, stoch), generator=generator)
    return F.one_hot(idx, classes).float().flatten(-2)


def data_free_starts(model: MFWM, ac: ActorCritic, n: int) -> LatentState:
    """GenRL's data-free start states (spec 5.3): ``n`` states from ``n // 2`` mixed uniform/connector states,
    warmed up with random actions and with the current actor."""
    if n % 2:
        raise ValueError(f"the number of start states must be even, got {n}")
    c = ac.config
    wm, conn = model.world_model, model.connector
    half = n // 2
    rssm = wm.rssm
    with torch.no_grad():
        uniform = uniform_stoch(half, rssm.stoch, rssm.classes)
        # connector rollouts of per-step random unit embeddings (B, L/2, D): every step its own embedding
        b = c.batch_size
        steps = max(1, half // b)
        rows = -(-half // steps)
        e = F.normalize(torch.randn(rows, steps, conn.config.embed_dim), dim=-1)
        conn_stoch = conn.video_imagine(e, sample=True, denoise=True).stoch.reshape(-1, rssm.stoch_dim)[:half]
        use_conn = torch.rand(half, 1) < c.connector_fraction
        stoch = torch.where(use_conn, conn_stoch, uniform)
        deter = torch.zeros(half, rssm.deter_dim)
        logits = torch.zeros(half, rssm.stoch, rssm.classes)  # uniform probabilities
        mixed = LatentState(deter, stoch, logits)
        random_state = mixed
        actor_state = mixed
        for _ in range(c.warmup_steps):
            random_state = rssm.img_step(random_state, torch.rand(half, wm.config.action_dim) * 2 - 1)
            actor_state = rssm.img_step(actor_state, ac.actor(actor_state.feature()).sample())
    return LatentState(*(torch.cat([getattr(random_state, f), getattr(actor_state, f)]) for f in
                         ("deter", "stoch", "logits")))


def data_starts(model: MFWM, store: Any, config: BehaviourConfig, rng: np.random.Generator) -> LatentState:
    """Offline start states (spec 5.2): posteriors of a (batch_size, batch_length) batch of the data."""
    from agents.genrl.train_world_model import to_torch

    batch = to_torch(store.sample(config.batch_size, config.batch_length, rng))
    with torch.no_grad():
        post, _ = model.world_model.observe(batch)
    return LatentState(*(x.flatten(0, 1) for x in (post.deter, post.stoch, post.logits)))


# --------------------------------------------------------------------------------------------- policy
class GenRLPolicy:
    """The learned behaviour, acting in real envs: posterior filtering (``obs_step``) + the actor's mean.

    :param world_model: the world model. :param actor: the trained :class:`Actor`.
    :param num_envs: parallel envs. :param sample_posterior: sample the filter's posterior (the reference's
        evaluation does).

    Example::

        obs, _ = env.reset(seed=0)
        policy.reset(obs[None])
        while True:
            action = policy.act(obs[None])[0]
            obs, reward, terminated, truncated, _ = env.step(action)
            ...
            policy.observe(obs[None], action[None])
    """

    def __init__(self, world_model: nn.Module, actor: Actor, num_envs: int = 1, sample_posterior: bool = True,
                 label: str = "") -> None:
        self.world_model, self.actor, self.label = world_model, actor, label
        self.sample_posterior = sample_posterior
        self.filter = LatentFilter(world_model, num_envs, sample_posterior)
        self._started = False

    def reset(self, observations: Any, num_envs: Optional[int] = None) -> None:
        """Start episodes from their first observations (N, ...)."""
        n = num_envs or len(observations)
        if n != self.filter.num_envs:
            self.filter = LatentFilter(self.world_model, n, self.sample_posterior)
        self.filter.reset(observations)
        self._started = True

    def observe(self, observations: Any, actions: Any) -> None:
        """Advance the latent state with the new observations and the actions that led to them."""
        self.filter.step(observations, actions)

    def act(self, observations: Any = None, deterministic: bool = True) -> np.ndarray:
        """Actions (N, A) in [-1, 1] for the current latent states; an un-started policy is reset on
        ``observations`` first."""
        if not self._started:
            if observations is None:
                raise RuntimeError("call reset(observations) before act()")
            self.reset(observations)
        with torch.no_grad():
            dist = self.actor(self.filter.state.feature())
            action = dist.mean if deterministic else dist.sample()
        return action.clamp(-1.0, 1.0).numpy().astype(np.float32)


# --------------------------------------------------------------------------------------------- checkpoints
FORMAT = "vpt_gym.genrl.behaviour"
VERSION = 1


def save_behaviour(path: str | os.PathLike, ac: ActorCritic, step: int, embedding: torch.Tensor,
                   extra: Optional[dict[str, Any]] = None) -> Path:
    """Atomically write actor, critic, slow critic, optimisers, return EMA and RNG (safetensors + JSON)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"ac/{k}": v.detach().contiguous() for k, v in ac.state_dict().items()}
    groups = {}
    for name, opt in (("actor_opt", ac.actor_opt), ("critic_opt", ac.critic_opt)):
        sd = opt.state_dict()
        for idx, st in sd["state"].items():
            for key, value in st.items():
                tensors[f"{name}/{idx}/{key}"] = torch.as_tensor(value).detach().clone().contiguous()
        groups[name] = sd["param_groups"]
    tensors["prompt/embedding"] = embedding.detach().float().contiguous()
    tensors["rng/torch"] = torch.get_rng_state()
    meta = {"format": FORMAT, "version": VERSION, "config": ac.config.to_dict(), "feat_dim": ac.feat_dim,
            "action_dim": ac.action_dim, "step": int(step), "updates": ac.updates, "optim_param_groups": groups,
            "extra": extra or {}}
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata={"vpt_gym": json.dumps(meta)}), durable=True)
    return path


def load_behaviour(
    path: str | os.PathLike, restore_rng: bool = False
) -> tuple[ActorCritic, int, torch.Tensor, dict[str, Any]]:
    """Rebuild (actor-critic, step, prompt embedding, metadata) from :func:`save_behaviour`'s file.

    The caller's global torch RNG is left as it was (building the networks draws from a forked RNG),
    unless ``restore_rng`` asks for the state saved with the checkpoint (for an identical continuation).

    :param restore_rng: set torch's global RNG to the checkpoint's.
    :raises CheckpointError: on a corrupt or foreign file.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("vpt_gym")
        tensors = load_file(str(path))
        meta = json.loads(raw) if raw is not None else None
    except Exception as err:  # safetensors / json raise version-dependent errors
        raise CheckpointError(f"{path} is not a readable behaviour checkpoint: {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: not a {FORMAT!r} v{VERSION} checkpoint")
    check_sizes(path, meta)
    with torch.random.fork_rng(devices=[]):  # initialising the networks must not move the caller's RNG
        ac = ActorCritic(meta["feat_dim"], meta["action_dim"], BehaviourConfig.from_dict(meta["config"]))
    sd = {k[3:]: v for k, v in tensors.items() if k.startswith("ac/")}
    try:
        ac.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: actor-critic weights do not match: {err}") from err
    for name, opt in (("actor_opt", ac.actor_opt), ("critic_opt", ac.critic_opt)):
        _load_optimizer(path, name, opt, tensors, meta)
    ac.updates = int(meta["updates"])
    if restore_rng:
        torch.set_rng_state(tensors["rng/torch"])
    return ac, int(meta["step"]), tensors["prompt/embedding"], meta


def check_sizes(path: Path, meta: dict[str, Any]) -> None:
    """Check the actor-critic that ``meta`` describes against the file's ``ac/`` tensors (header only), on
    the meta device, before it is built for real."""
    from agents.checkpoints import check_module_against, read_safetensors_header

    specs, _ = read_safetensors_header(path)
    part = {k[3:]: v for k, v in specs.items() if k.startswith("ac/")}
    check_module_against(lambda: ActorCritic(meta["feat_dim"], meta["action_dim"],
                                             BehaviourConfig.from_dict(meta["config"])), part, f"{path} (ac)")
def _load_optimizer(path: Path, name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                    meta: dict[str, Any]) -> None:
    """Restore ``opt`` from the ``<name>/<param id>/<key>`` tensors, checking ids and moment shapes first
    (a tampered file fails here, not at the first update)."""
    params = [p for group in opt.param_groups for p in group["params"]]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(name + "/"):
            _, idx, k = (key.split("/", 2) + ["", ""])[:3]
            if not idx.isdigit() or int(idx) >= len(params):
                raise CheckpointError(f"{path}: {key[:80]!r} names no parameter of {name} ({len(params)} parameters)")
            if value.dim() > 0 and value.shape != params[int(idx)].shape:
                raise CheckpointError(f"{path}: {key[:80]!r} has shape {tuple(value.shape)}, its parameter "
                                      f"{tuple(params[int(idx)].shape)}")
            state.setdefault(int(idx), {})[k] = value
    groups = meta.get("optim_param_groups")
    try:
        opt.load_state_dict({"state": state, "param_groups": groups[name]})  # type: ignore[index]
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as err:
        raise CheckpointError(f"{path}: {name} state does not fit the optimizer ({type(err).__name__}: "
                              f"{str(err)[:200]})") from err


def load_policy(path: str | os.PathLike, world_model: nn.Module, num_envs: int = 1) -> GenRLPolicy:
    """The :class:`GenRLPolicy` of a behaviour checkpoint, on ``world_model``."""
    ac, _, _, meta = load_behaviour(path)
    feat = world_model.config.stoch * world_model.config.classes + world_model.config.deter
    if (feat, world_model.config.action_dim) != (ac.feat_dim, ac.action_dim):
        raise CheckpointError(f"{path} was trained for features {ac.feat_dim} / actions {ac.action_dim}, the world "
                              f"model has {feat} / {world_model.config.action_dim}")
    return GenRLPolicy(world_model, ac.actor, num_envs, label=meta.get("extra", {}).get("label", ""))


# --------------------------------------------------------------------------------------------- training loop
def _sampler_rng(ckpt: Path, state: Any) -> np.random.Generator:
    """The offline start-state sampler as the checkpoint left it (an identical continuation)."""
    rng = np.random.default_rng()
    if not isinstance(state, dict) or state.get("bit_generator") != type(rng.bit_generator).__name__:
        raise CheckpointError(f"{ckpt} has no valid sampler RNG state (written by an older vpt-gym?); an identical "
                              "continuation is impossible: use a new run_dir")
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{ckpt}: corrupt sampler RNG state ({type(err).__name__})") from err
    return rng


def learn_behaviour(
    model: Any,
    prompt: Any,
    data: Any = None,
    *,
    connector: Any = None,
    vlm: Any = None,
    steps: int = 1000,
    config: Optional[BehaviourConfig] = None,
    run_dir: Optional[str | os.PathLike] = None,
    checkpoint_every: int = 100,
    log_every: int = 10,
    seed: int = 0,
    progress: bool = True,
    score_fn: str = "max_cosine",
    callback: Optional[Callable[[int, dict[str, float]], None]] = None,
) -> GenRLPolicy:
    """Learn a behaviour for ``prompt`` in imagination (offline with ``data``, data-free without).

    :param model: an :class:`~agents.genrl.reward.MFWM`, or a world model together with ``connector``.
    :param prompt: text, a video path, uint8 frames (T, H, W, 3) or a float prompt embedding (D,).
    :param data: None (data-free mode) or an :class:`~agents.genrl.episodes.EpisodeStore` / directory of
        episodes (offline mode: start states are posteriors of data batches).
    :param connector: the connector when ``model`` is a bare world model. :param vlm: its VLM (for prompts).
    :param steps: total updates (a resumed run continues up to this number).
    :param config: :class:`BehaviourConfig` (GenRL's by default).
    :param run_dir: where ``behaviour.safetensors`` (atomic checkpoint) and ``metrics.jsonl`` go; an existing
        checkpoint there is resumed.
    :param checkpoint_every: updates between checkpoints (and at the end).
    :param log_every: updates between metric lines / progress-bar refreshes.
    :param seed: torch / numpy seed of a fresh run.
    :param progress: show a tqdm bar. :param score_fn: reward score function.
    :param callback: called as ``callback(step, metrics)`` after every update.
    :return: the policy (actor + world model) for real envs.
    """
    if not isinstance(model, MFWM):
        if connector is None:
            raise ValueError("learn_behaviour needs an MFWM, or a world model and connector=...")
        model = MFWM(model, connector, vlm)
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    config = config or BehaviourConfig()
    embedding = model.embed(prompt)  # validates the prompt before anything runs
    store = None
    if data is not None:
        from agents.genrl.episodes import EpisodeStore

        store = data if isinstance(data, EpisodeStore) else EpisodeStore(data)
        if len(store) == 0:
            raise ValueError(f"the episode store {store.directory} is empty; pass data=None for data-free mode")
        act_dim = int(store.load(0, ("action",))["action"].shape[1])
        if act_dim != model.action_dim:
            raise ValueError(f"data action dimension {act_dim} != world model's {model.action_dim}")
    wm_c = model.world_model.config
    feat_dim = wm_c.stoch * wm_c.classes + wm_c.deter
    n_starts = config.batch_size * config.batch_length

    ckpt = Path(run_dir) / "behaviour.safetensors" if run_dir is not None else None
    step = 0
    mode = "offline" if store is not None else "data-free"
    settings = {"mode": mode, "seed": seed, "score_fn": score_fn}
    if ckpt is not None and ckpt.exists():
        ac, step, saved_e, meta = load_behaviour(ckpt, restore_rng=True)
        if not torch.allclose(saved_e, embedding, atol=1e-5):
            raise ValueError(f"{ckpt} was trained for another prompt; use a new run_dir")
        if BehaviourConfig.from_dict(meta["config"]) != config:
            raise ValueError(f"{ckpt} was written with another BehaviourConfig; resume with the same config")
        extra = meta.get("extra", {})
        check_resumable(ckpt, extra if isinstance(extra, dict) else {}, settings, tuple(settings))
        rng = _sampler_rng(ckpt, extra.get("sampler_rng"))
    else:
        torch.manual_seed(seed)
        ac = ActorCritic(feat_dim, model.action_dim, config)
        rng = np.random.default_rng(seed)
    reward = PromptReward(model.world_model, model.connector, embedding, batch=n_starts,
                          n_frames=model.connector.config.n_frames, fn=score_fn, seed=seed)  # type: ignore[arg-type]
    label = f"prompt reward with VLM {model.vlm_label}"
    log = None
    if run_dir is not None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        log = open_metrics_log(Path(run_dir) / "metrics.jsonl", step)
    bar = tqdm(range(step, steps), initial=step, total=steps, desc="behaviour", disable=not progress)
    metrics: dict[str, float] = {}
    try:
        for i in bar:
            t0 = time.perf_counter()
            start = data_starts(model, store, config, rng) if store is not None else data_free_starts(model, ac, n_starts)
            metrics = ac.update(model.world_model, start, reward)
            metrics["step_time"] = time.perf_counter() - t0
            if callback is not None:
                callback(i + 1, metrics)
            if (i + 1) % log_every == 0 or i + 1 == steps:
                bar.set_postfix(reward=f"{metrics['reward_mean']:.3f}", ret=f"{metrics['return_mean']:.2f}")
                if log is not None:
                    log.write(json.dumps({"step": i + 1, **metrics}) + "\n")
                    log.flush()
            if ckpt is not None and ((i + 1) % checkpoint_every == 0 or i + 1 == steps):
                save_behaviour(ckpt, ac, i + 1, embedding,
                               extra={"label": label, **settings, "sampler_rng": rng.bit_generator.state})
    finally:
        if log is not None:
            log.close()
    policy = GenRLPolicy(model.world_model, ac.actor, label=label)
    policy.actor_critic = ac  # type: ignore[attr-defined]
    policy.last_metrics = metrics  # type: ignore[attr-defined]
    return policy


# --------------------------------------------------------------------------------------------- evaluation
def run_episodes(env: gym.Env, act: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int = 0,
                 on_step: Optional[Callable[[np.ndarray, np.ndarray], None]] = None,
                 on_reset: Optional[Callable[[np.ndarray], None]] = None, progress: bool = False) -> list[float]:
    """Returns of ``episodes`` episodes of ``act(obs) -> action`` (episode i reset with seed + i)."""
    returns = []
    for ep in tqdm(range(episodes), desc="eval", unit="ep", disable=not progress):
        obs, _ = env.reset(seed=seed + ep)
        if on_reset is not None:
            on_reset(obs)
        total, done = 0.0, False
        while not done:
            action = act(obs)
            obs, r, terminated, truncated, _ = env.step(action)
            total += float(r)
            done = bool(terminated or truncated)
            if on_step is not None and not done:
                on_step(obs, action)
        returns.append(total)
    return returns


def _make_env(env_id: Any, **kwargs: Any) -> gym.Env:
    if isinstance(env_id, gym.Env):
        return env_id
    if callable(env_id):
        return env_id()
    import vpt_gym  # noqa: F401  (registers the ids)

    return gym.make(env_id, **kwargs)


def _summary(env_id: Any, returns: list[float], task: Optional[str]) -> dict[str, Any]:
    from vpt_gym.tasks import UnknownTaskError, get_task

    out: dict[str, Any] = {"returns": returns, "mean_return": float(np.mean(returns)),
                           "std_return": float(np.std(returns)), "episodes": len(returns)}
    name = task if task is not None else (env_id if isinstance(env_id, str) else None)
    out["normalized_score"] = None
    if name is not None:
        try:
            t = get_task(name)
            out["task"] = t.id
            out["normalized_score"] = t.normalized_score(out["mean_return"])
        except (UnknownTaskError, TypeError):
            out["task"] = name
    return out


def evaluate_behaviour(policy: GenRLPolicy, model: Any = None, env_id: Any = "vpt_gym/walker-stand-v0",
                       episodes: int = 10, seed: int = 0, task: Optional[str] = None, progress: bool = False,
                       **env_kwargs: Any) -> dict[str, Any]:
    """Run the policy in the real env (actor mean, posterior filtered per step) with the env's GT reward.

    :param policy: a :class:`GenRLPolicy`. :param model: unused beyond a consistency check (the policy holds
        its world model); an MFWM or world model may be passed for symmetry with :func:`learn_behaviour`.
    :param env_id: a gymnasium id (``vpt_gym/<domain>-<task>-v0``), an env, or a factory.
    :param episodes: number of episodes (the reference evaluates 10). :param seed: seed of episode 0.
    :param task: GenRL task for ``normalized_score`` (default: from ``env_id``).
    :return: dict with ``returns``, ``mean_return``, ``std_return``, ``normalized_score`` (None for a non-GenRL
        task), ``task``, ``label``.
    """
    if model is not None:
        wm = model.world_model if isinstance(model, MFWM) else model
        if wm is not policy.world_model:
            raise ValueError("the policy was built on another world model than `model`")
    env = _make_env(env_id, **env_kwargs)
    from wrappers.genrl_reward import check_env_for_model

    check_env_for_model(env.observation_space, env.action_space,
                        model if isinstance(model, MFWM) else _ActionDim(policy.world_model.config.action_dim))
    returns = run_episodes(env, lambda o: policy.act()[0], episodes, seed,
                           on_step=lambda o, a: policy.observe(np.asarray(o)[None], np.asarray(a)[None]),
                           on_reset=lambda o: policy.reset(np.asarray(o)[None]), progress=progress)
    out = _summary(env_id, returns, task)
    out["label"] = policy.label
    return out


def evaluate_random(env_id: Any, episodes: int = 10, seed: int = 0, task: Optional[str] = None,
                    **env_kwargs: Any) -> dict[str, Any]:
    """The same evaluation for a uniform random policy (the baseline of normalised scores)."""
    env = _make_env(env_id, **env_kwargs)
    env.action_space.seed(seed)
    out = _summary(env_id, run_episodes(env, lambda o: env.action_space.sample(), episodes, seed), task)
    out["label"] = "random policy"
    return out


class _ActionDim:
    def __init__(self, action_dim: int) -> None:
        self.action_dim = action_dim
