"""GenRL's prompt reward: connector target, per-state score, best-matching-trajectory alignment.

Spec ``shared/specs/genrl.md`` section 4 (reference: ``tools/genrl_utils.py: video_text_reward``,
``compute_reward``). Sequences here are time-major, ``(T, B, ...)``, as imagination produces them.

1. **Target** (:func:`prompt_target`): the prompt embedding e (unit norm) is repeated for T + 1 steps and
   rolled through the connector with the aligner on and mode steps (``video_imagine(denoise=True,
   sample=False)``); the first generated state is dropped, leaving T targets tau_0..tau_{T-1}. T = 17 =
   imagination horizon 16 + the start state. The connector's initial stochastic state is *sampled* (as in the
   reference), so each batch element gets its own rollout.
2. **Score** (:func:`score`): both stochastic states go through g_phi, the decoder's first Linear layer
   (with bias); the default ``"max_cosine"`` is <u, v> / max(|u|, |v|)^2, ``"cosine"`` is the paper's Eq. 3.
3. **Alignment** (:func:`aligned_reward`, b = n_frames = 8): for offsets t = 0 .. T - b - 1 the window
   score W_t = mean_k score(a_{t+k}, tau_k); i* = argmax_t W_t (not differentiated); agent step j is then
   compared with tau_{max(0, j - i*)}.

Example::

    >>> import torch
    >>> agent = torch.eye(4)[[0, 0, 1, 2, 3, 3]].unsqueeze(1)   # (T=6, B=1, F=4)
    >>> target = torch.eye(4)[[1, 2, 3, 3, 3, 3]].unsqueeze(1)
    >>> reward, offset = aligned_reward(agent, target, n_frames=3)
    >>> offset.tolist(), reward[:, 0, 0].tolist()
    ([2], [0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
"""
from __future__ import annotations

from typing import Any, Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F

from agents.genrl.connector import Connector
from agents.genrl.rssm import LatentState

ScoreFn = Literal["max_cosine", "cosine"]
SCORE_FNS: tuple[str, ...] = ("max_cosine", "cosine")
#: Imagination horizon of GenRL's behaviour learning (spec 5.1); targets have horizon + 1 = 17 states.
IMAG_HORIZON = 16


def score(u: torch.Tensor, v: torch.Tensor, fn: ScoreFn = "max_cosine") -> torch.Tensor:
    """Per-state similarity of feature vectors (..., F) -> (...).

    :param u: agent features (already through g_phi).
    :param v: target features, broadcastable to ``u``.
    :param fn: ``"max_cosine"`` = <u, v> / max(|u|, |v|)^2 (GenRL's default; equals the cosine when the
        norms are equal and penalises a norm mismatch) or ``"cosine"`` (paper Eq. 3).
    """
    if fn not in SCORE_FNS:
        raise ValueError(f"unknown score function {fn!r}; expected one of {SCORE_FNS}")
    dot = (u * v).sum(-1)
    if fn == "cosine":
        return F.cosine_similarity(u, v, dim=-1)
    norm = torch.maximum(u.norm(dim=-1), v.norm(dim=-1))
    return dot / norm.clamp(min=1e-8) ** 2


def best_offsets(agent: torch.Tensor, target: torch.Tensor, n_frames: int = 8,
                 fn: ScoreFn = "max_cosine") -> torch.Tensor:
    """Best-matching offset i* per batch element (spec 4.3 steps 1-2).

    :param agent: agent features (T, B, F). :param target: target features (T, B, F).
    :param n_frames: window length b (8 in GenRL).
    :return: (B,) long; offsets range over 0 .. T - b - 1 (the reference's ``range(T - n_frames)``, so the
        last agent state never enters a window). With T <= b there is no offset to choose and i* = 0 (no
        alignment; documented extension for short online windows).
    """
    _check_seq(agent, target)
    t, b = agent.shape[:2]
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    n_offsets = t - n_frames
    if n_offsets < 1:
        return torch.zeros(b, dtype=torch.long, device=agent.device)
    with torch.no_grad():
        windows = torch.stack([
            score(agent[i : i + n_frames], target[:n_frames], fn).mean(0) for i in range(n_offsets)
        ])  # (n_offsets, B)
    return windows.argmax(0)


def aligned_indices(offsets: torch.Tensor, length: int) -> torch.Tensor:
    """Target index for each agent step: idx[j, b] = max(0, j - offsets[b]), shape (length, B)."""
    steps = torch.arange(length, device=offsets.device).unsqueeze(1)
    return (steps - offsets.unsqueeze(0)).clamp(min=0)


def aligned_reward(agent: torch.Tensor, target: torch.Tensor, n_frames: int = 8, fn: ScoreFn = "max_cosine",
                   align: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards under the best-matching-trajectory alignment (spec 4.3).

    :param agent: agent features (T, B, F) (g_phi of the agent's stochastic states; differentiable).
    :param target: target features (T, B, F).
    :param n_frames: window length b.
    :param fn: score function, see :func:`score`.
    :param align: False compares step j with tau_j (the "no alignment" ablation).
    :return: (rewards (T, B, 1), offsets (B,)).
    """
    _check_seq(agent, target)
    t = agent.shape[0]
    if align:
        offsets = best_offsets(agent, target, n_frames, fn)
    else:
        offsets = torch.zeros(agent.shape[1], dtype=torch.long, device=agent.device)
    idx = aligned_indices(offsets, t)  # (T, B)
    shifted = torch.gather(target, 0, idx.unsqueeze(-1).expand(-1, -1, target.shape[-1]))
    return score(agent, shifted, fn).unsqueeze(-1), offsets


def _check_seq(agent: torch.Tensor, target: torch.Tensor) -> None:
    if agent.dim() != 3 or target.dim() != 3:
        raise ValueError(f"agent and target must be (T, B, F), got {tuple(agent.shape)} and {tuple(target.shape)}")
    if agent.shape[0] > target.shape[0] or agent.shape[2] != target.shape[2]:
        raise ValueError(f"target {tuple(target.shape)} must have at least agent's T and the same F as "
                         f"agent {tuple(agent.shape)}")
    if target.shape[1] not in (1, agent.shape[1]):
        raise ValueError(f"target batch {target.shape[1]} must be 1 or agent's batch {agent.shape[1]}")
    if target.shape[1] == 1 and agent.shape[1] != 1:
        raise ValueError("expand the target to the agent's batch first (target.expand(-1, B, -1))")


def prompt_target(connector: Connector, embedding: torch.Tensor, batch: int, length: int = IMAG_HORIZON + 1,
                  generator_seed: Optional[int] = None) -> LatentState:
    """The target sequence of a prompt (spec 4.1): (length, batch) connector states, first state dropped.

    :param connector: trained connector + aligner.
    :param embedding: unit prompt embedding (D,) or (1, D) (normalised here).
    :param batch: number of rollouts (each samples its own initial stochastic state).
    :param length: target states kept (17 = horizon 16 + 1).
    :param generator_seed: if given, the rollout runs under ``torch.random.fork_rng`` with this seed, so the
        target is reproducible and the global RNG is untouched.
    :return: target states, time-major (length, batch).
    """
    if embedding.dim() == 2 and embedding.shape[0] == 1:
        embedding = embedding[0]
    if embedding.dim() != 1 or embedding.shape[0] != connector.config.embed_dim:
        raise ValueError(f"prompt embedding must be ({connector.config.embed_dim},), got {tuple(embedding.shape)}")
    if not torch.isfinite(embedding).all() or embedding.norm() == 0:
        raise ValueError("prompt embedding must be finite and non-zero")
    if batch < 1 or length < 1:
        raise ValueError(f"batch and length must be >= 1, got batch={batch}, length={length}")
    e = F.normalize(embedding.float(), dim=-1).unsqueeze(0).expand(batch, -1)

    def rollout() -> LatentState:
        with torch.no_grad():
            states = connector.video_imagine(e, steps=length + 1, sample=False, denoise=True)
        return LatentState(*(x[:, 1:].transpose(0, 1).contiguous() for x in (states.deter, states.stoch, states.logits)))

    if generator_seed is None:
        return rollout()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator_seed)
        return rollout()


class PromptReward(torch.nn.Module):
    """GenRL's reward for one prompt: g_phi features of agent states vs the connector's target.

    :param world_model: a :class:`~agents.genrl.world_model.WorldModel` (its ``decoder.linear`` is g_phi).
    :param connector: the trained connector + aligner.
    :param embedding: the prompt's unit VLM embedding (D,).
    :param batch: target rollouts kept (the reference caches one per start state, 1024). Calls with another
        batch size regenerate the target (the reference instead requires a fixed batch size).
    :param n_frames: alignment window b (8).
    :param fn: ``"max_cosine"`` (default) or ``"cosine"``.
    :param align: best-matching-trajectory alignment (True, default) or none.
    :param seed: seed of the target's sampled initial states (None: global RNG).

    Example::

        >>> import torch
        >>> from agents.genrl.world_model import WorldModel, WorldModelConfig
        >>> from agents.genrl.connector import Connector, ConnectorConfig
        >>> wm = WorldModel(WorldModelConfig.small(action_dim=2))
        >>> conn = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16))
        >>> reward = PromptReward(wm, conn, torch.nn.functional.normalize(torch.ones(16), dim=0), batch=3)
        >>> states = reward.target  # any (17, 3) states
        >>> reward(states).shape
        torch.Size([17, 3, 1])
    """

    def __init__(self, world_model: torch.nn.Module, connector: Connector, embedding: torch.Tensor,
                 batch: int = 1, n_frames: int = 8, fn: ScoreFn = "max_cosine", align: bool = True,
                 seed: Optional[int] = 0) -> None:
        super().__init__()
        if fn not in SCORE_FNS:
            raise ValueError(f"unknown score function {fn!r}; expected one of {SCORE_FNS}")
        wm_c, c = world_model.config, connector.config
        if (wm_c.stoch, wm_c.classes, wm_c.deter) != (c.stoch, c.classes, c.deter):
            raise ValueError(f"connector latents (stoch {c.stoch}, classes {c.classes}, deter {c.deter}) do not "
                             f"match the world model's ({wm_c.stoch}, {wm_c.classes}, {wm_c.deter})")
        self.world_model = world_model
        self.connector = connector
        self.register_buffer("embedding", F.normalize(embedding.detach().float().reshape(-1), dim=0),
                             persistent=False)
        self.n_frames, self.fn, self.align, self.seed = n_frames, fn, align, seed
        self.length = IMAG_HORIZON + 1
        self.target = prompt_target(connector, self.embedding, batch, self.length, seed)
        self.last_offsets: Optional[torch.Tensor] = None

    def g_phi(self, stoch: torch.Tensor) -> torch.Tensor:
        """The decoder's first Linear layer (with bias) applied to flattened stochastic states."""
        return self.world_model.decoder.linear(stoch)

    def target_features(self, batch: int, length: int) -> torch.Tensor:
        """g_phi of the target's stochastic states, (length, batch, F)."""
        if self.target.stoch.shape[1] != batch or self.target.stoch.shape[0] < length:
            self.target = prompt_target(self.connector, self.embedding, batch, max(length, self.length), self.seed)
        return self.g_phi(self.target.stoch[:length]).detach()

    def forward(self, states: LatentState) -> torch.Tensor:
        """Rewards (T, B, 1) of agent state sequences (T, B) (gradient flows through ``states.stoch``)."""
        stoch = states.stoch
        if stoch.dim() != 3:
            raise ValueError(f"states must be time-major (T, B, ...), got stoch {tuple(stoch.shape)}")
        t, b = stoch.shape[:2]
        if t > self.length and self.align:
            raise ValueError(f"sequences longer than the target ({self.length}) are not supported, got T={t}")
        target = self.target_features(b, t)
        reward, offsets = aligned_reward(self.g_phi(stoch), target, self.n_frames, self.fn, self.align)
        self.last_offsets = offsets
        return reward


class LatentFilter:
    """Online posterior filtering of real observations, one latent state per env (spec 5.4: ``obs_step``).

    :param world_model: the world model.
    :param num_envs: number of parallel envs.
    :param sample: sample the posterior (the reference's evaluation does) or take its mode (deterministic).

    Call :meth:`reset` with the first observation(s) of an episode and :meth:`step` with each next
    observation and the action that led to it; ``state`` is the current posterior (N,).
    """

    def __init__(self, world_model: torch.nn.Module, num_envs: int = 1, sample: bool = True) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.world_model, self.num_envs, self.sample = world_model, num_envs, sample
        self.action_dim = world_model.config.action_dim
        self.state = world_model.rssm.initial(num_envs)

    @staticmethod
    def to_chw(observations: Any) -> torch.Tensor:
        """uint8 (N, 64, 64, 3) or (N, 3, 64, 64) observations -> uint8 tensor (N, 3, 64, 64)."""
        x = torch.as_tensor(np.ascontiguousarray(observations))  # rendered frames may have negative strides
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(f"observations must be uint8 (N, 64, 64, 3) or (N, 3, 64, 64), got {x.dtype} {tuple(x.shape)}")
        if tuple(x.shape[1:]) == (64, 64, 3):
            x = x.permute(0, 3, 1, 2)
        if tuple(x.shape[1:]) != (3, 64, 64):
            raise ValueError(f"observations must be 64x64 RGB (the world model's image size), got {tuple(x.shape)}")
        return x.contiguous()

    def _filter(self, observations: Any, actions: torch.Tensor, is_first: torch.Tensor,
                mask: Optional[torch.Tensor]) -> LatentState:
        obs = self.to_chw(observations)
        if obs.shape[0] != self.num_envs:
            raise ValueError(f"expected {self.num_envs} observations, got {obs.shape[0]}")
        with torch.no_grad():
            embed = self.world_model.encode(obs)
            post, _ = self.world_model.rssm.obs_step(self.state, actions, embed, is_first, self.sample)
        if mask is None:
            self.state = post
        else:
            keep = mask.unsqueeze(-1)
            self.state = LatentState(torch.where(keep, post.deter, self.state.deter),
                                     torch.where(keep, post.stoch, self.state.stoch),
                                     torch.where(keep.unsqueeze(-1), post.logits, self.state.logits))
        return self.state

    def reset(self, observations: Any, mask: Optional[np.ndarray] = None) -> LatentState:
        """Start new episodes (all envs, or those where ``mask`` is True) from their first observations."""
        m = None if mask is None else torch.as_tensor(np.asarray(mask, bool))
        zeros = torch.zeros(self.num_envs, self.action_dim)
        return self._filter(observations, zeros, torch.ones(self.num_envs, dtype=torch.bool), m)

    def step(self, observations: Any, actions: Any, mask: Optional[np.ndarray] = None) -> LatentState:
        """Advance with the action that led to ``observations`` (only envs where ``mask`` is True)."""
        a = torch.as_tensor(np.asarray(actions, np.float32)).reshape(self.num_envs, -1)
        if a.shape[1] != self.action_dim or not torch.isfinite(a).all():
            raise ValueError(f"actions must be finite ({self.num_envs}, {self.action_dim}), got {tuple(a.shape)}")
        m = None if mask is None else torch.as_tensor(np.asarray(mask, bool))
        return self._filter(observations, a, torch.zeros(self.num_envs, dtype=torch.bool), m)


class OnlinePromptReward:
    """The prompt reward of real trajectories, step by step, for ``num_envs`` envs at once.

    GenRL computes its reward on imagined sequences of 17 states (spec 4). Online, each env keeps its last
    17 posterior states (its episode so far, when shorter) and the reward of a step is that of the newest
    state under the best-matching alignment of this window to the env's target; an episode shorter than
    b + 1 = 9 states has no offset to choose and compares state j with tau_j (see :func:`best_offsets`).

    All envs share one target rollout (the same reward function for every env, so a vector env's rewards
    equal those of single envs).

    :param reward: the :class:`PromptReward` (its first target rollout is used).
    :param num_envs: parallel envs.
    :param sample: sample the posterior (False: its mode, so equal frames give equal rewards).
    """

    def __init__(self, reward: PromptReward, num_envs: int = 1, sample: bool = False) -> None:
        self.reward = reward
        self.num_envs = num_envs
        self.filter = LatentFilter(reward.world_model, num_envs, sample)
        self.window = reward.length
        target = reward.target_features(reward.target.stoch.shape[1], self.window)[:, :1]
        self.target = target.expand(-1, num_envs, -1)  # (17, N, F), one shared rollout
        self._buffer = torch.zeros(self.window, num_envs, self.target.shape[-1])
        self._count = np.zeros(num_envs, np.int64)

    def _push(self, mask: np.ndarray) -> None:
        with torch.no_grad():
            feat = self.reward.g_phi(self.filter.state.stoch)  # (N, F)
        for i in np.flatnonzero(mask):
            n = self._count[i]
            if n < self.window:
                self._buffer[n, i] = feat[i]
            else:
                self._buffer[:-1, i] = self._buffer[1:, i].clone()
                self._buffer[-1, i] = feat[i]
            self._count[i] = min(n + 1, self.window)

    def reset(self, observations: Any, mask: Optional[np.ndarray] = None) -> None:
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        self.filter.reset(observations, mask)
        self._count[mask] = 0
        self._push(mask)

    def step(self, observations: Any, actions: Any, mask: Optional[np.ndarray] = None) -> np.ndarray:
        """Rewards (N,) of the new observations (0 where ``mask`` is False)."""
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        self.filter.step(observations, actions, mask)
        self._push(mask)
        rewards = np.zeros(self.num_envs, np.float32)
        with torch.no_grad():
            for length in np.unique(self._count[mask]):
                envs = np.flatnonzero(mask & (self._count == length))
                idx = torch.as_tensor(envs)
                r, _ = aligned_reward(self._buffer[:length, idx], self.target[:length, idx], self.reward.n_frames,
                                      self.reward.fn, self.reward.align)
                rewards[envs] = r[-1, :, 0].numpy()
        return rewards


class MFWM:
    """A multimodal foundation world model: world model + connector/aligner + (optional) VLM.

    :param world_model: the :class:`~agents.genrl.world_model.WorldModel`.
    :param connector: its trained :class:`~agents.genrl.connector.Connector`.
    :param vlm: the VLM whose embeddings the connector was trained on (needed for text/video prompts; a
        precomputed embedding works without it).

    Building an MFWM freezes both networks (``eval()``, ``requires_grad_(False)``): rewards and behaviour
    learning only differentiate *through* them (dynamics backprop), never into their weights.
    """

    def __init__(self, world_model: torch.nn.Module, connector: Connector, vlm: Any = None) -> None:
        wm_c, c = world_model.config, connector.config
        if (wm_c.stoch, wm_c.classes, wm_c.deter, wm_c.hidden) != (c.stoch, c.classes, c.deter, c.hidden):
            raise ValueError("connector and world model latent sizes differ: connector (stoch, classes, deter, "
                             f"hidden) = {(c.stoch, c.classes, c.deter, c.hidden)}, world model "
                             f"{(wm_c.stoch, wm_c.classes, wm_c.deter, wm_c.hidden)}")
        if vlm is not None and getattr(vlm, "dim", c.embed_dim) != c.embed_dim:
            raise ValueError(f"the VLM's embedding size {vlm.dim} differs from the connector's {c.embed_dim}")
        self.world_model, self.connector, self.vlm = world_model, connector, vlm
        world_model.eval()
        connector.eval()
        for p in list(world_model.parameters()) + list(connector.parameters()):
            p.requires_grad_(False)

    @classmethod
    def from_checkpoint(cls, path: Any, vlm: Any = None) -> "MFWM":
        """Load world model + connector from a training checkpoint (:mod:`agents.genrl.checkpoint`)."""
        from agents.genrl.checkpoint import load_checkpoint

        state = load_checkpoint(path, restore_rng=False)
        if state.connector is None:
            raise ValueError(f"{path} holds no connector; train with --train-connector to use prompts")
        return cls(state.model, state.connector, vlm)

    @property
    def action_dim(self) -> int:
        return self.world_model.config.action_dim

    @property
    def vlm_label(self) -> str:
        """The VLM's name, marked as a stand-in when it is one (for reports)."""
        if self.vlm is None:
            return "none (precomputed embedding)"
        name = getattr(self.vlm, "name", type(self.vlm).__name__)
        return f"{name} (offline stand-in, not a real VLM)" if getattr(self.vlm, "is_stand_in", False) else name

    def embed(self, prompt: Any) -> torch.Tensor:
        """Unit embedding (D,) of a prompt: text, video path, uint8 frames, or a float embedding (D,)."""
        if isinstance(prompt, (torch.Tensor, np.ndarray)) and np.asarray(prompt).dtype.kind == "f":
            e = torch.as_tensor(np.asarray(prompt), dtype=torch.float32).reshape(-1)
            if e.shape[0] != self.connector.config.embed_dim or not torch.isfinite(e).all() or e.norm() == 0:
                raise ValueError(f"a float prompt is an embedding and must be finite, non-zero, of size "
                                 f"{self.connector.config.embed_dim}; got shape {tuple(np.shape(prompt))}")
            return F.normalize(e, dim=0)
        if self.vlm is None:
            raise ValueError("this MFWM has no VLM; pass a VLM to embed text or video prompts, or give an embedding")
        from wrappers.vlm_reward import prompt_embedding

        return prompt_embedding(self.vlm, prompt)

    def prompt_reward(self, prompt: Any, batch: int = 1, fn: ScoreFn = "max_cosine", align: bool = True,
                      seed: Optional[int] = 0) -> PromptReward:
        """The :class:`PromptReward` of ``prompt``."""
        return PromptReward(self.world_model, self.connector, self.embed(prompt), batch=batch,
                            n_frames=self.connector.config.n_frames, fn=fn, align=align, seed=seed)
