"""GenRL's connector p_psi(s_t | s_{t-1}, e) (``VideoSSM``, spec sections 3.1 and 12).

The connector is the world model's prior path (img_in -> GRU -> prior head; no posterior branch) driven by
a VLM embedding instead of an action: the "action" is concat(sqrt(512) * e, 8 zeros) (the 8 temporal one-hot
dims exist but are zeroed, ``temporal_embeds False``), 520-d in total. Its initial h comes from an MLP on that
action, Linear(520->1024)-LN-SiLU-Linear(1024->1024)-LN-SiLU-Linear(1024->1024), and its initial s is sampled
(straight-through, gradient kept) from the prior head at that h.

Training (teacher forcing, one update per world-model step; the reference runs it twice per step, spec
section 11, we implement the method as described, once):

* the conditioning of each 8-step chunk k of a window is the stored ``clip_video`` at index 8k + 7, i.e. the
  embedding of that chunk's own 8 frames;
* t = 0 starts from the learned initial state; for t > 0 the previous stochastic state is the world model's
  detached posterior sample s_{t-1}, while h continues from the connector's own recurrence;
* loss = 0.8 KL(conn_t || sg(post_t)) + 0.2 KL(sg(conn_t) || sg(post_t)) averaged over B x T (value = KL,
  gradient weight 0.8; ``connector_kl {free 0, forward True, balance 0.8}``).

Example::

    >>> import torch
    >>> conn = Connector(ConnectorConfig(embed_dim=16, deter=8, hidden=8, stoch=2, classes=3))
    >>> states = conn.video_imagine(torch.nn.functional.normalize(torch.randn(2, 16), dim=-1), steps=4)
    >>> states.stoch.shape
    torch.Size([2, 4, 6])
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from agents.genrl.aligner import Aligner, aligner_loss
from agents.genrl.networks import MLP
from agents.genrl.rssm import RSSM, LatentState, categorical_kl
from agents.genrl.world_model import apply_gradients


@dataclass
class ConnectorConfig:
    """Hyper-parameters of connector + aligner (defaults = official GenRL).

    :param embed_dim: VLM embedding size (512).
    :param n_frames: frames per VLM clip / connector chunk (8).
    :param deter, hidden, stoch, classes, unimix: as the world model's RSSM (must match it).
    :param rescale_embeds: multiply e by sqrt(embed_dim) (True).
    :param kl_balance: weight of KL(conn || sg(post)) (0.8).
    :param kl_free: free nats (0).
    :param aligner_bottleneck: aligner middle width (256).
    :param lafite_noise: aligner noise strength (0.5).
    :param lr, adam_eps, grad_clip, weight_decay: optimiser (as the world model's).
    """

    embed_dim: int = 512
    n_frames: int = 8
    deter: int = 1024
    hidden: int = 1024
    stoch: int = 32
    classes: int = 32
    unimix: float = 0.01
    rescale_embeds: bool = True
    kl_balance: float = 0.8
    kl_free: float = 0.0
    aligner_bottleneck: int = 256
    lafite_noise: float = 0.5
    lr: float = 1e-4
    adam_eps: float = 1e-8
    grad_clip: float = 1000.0
    weight_decay: float = 1e-6

    @classmethod
    def for_world_model(cls, wm_config: Any, **overrides: Any) -> "ConnectorConfig":
        """A connector config whose latent sizes match a :class:`WorldModelConfig`."""
        c = wm_config
        base = dict(deter=c.deter, hidden=c.hidden, stoch=c.stoch, classes=c.classes, unimix=c.unimix)
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ConnectorConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ConnectorConfig keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**data)


class Connector(nn.Module):
    """Connector (prior-only RSSM conditioned on VLM embeddings) plus its aligner.

    :param config: see :class:`ConnectorConfig`.
    """

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__()
        self.config = c = config
        self.action_dim = c.embed_dim + c.n_frames
        self.rssm = RSSM(self.action_dim, embed_dim=0, deter=c.deter, hidden=c.hidden, stoch=c.stoch,
                         classes=c.classes, unimix=c.unimix, posterior=False)
        self.initial_mlp = MLP(self.action_dim, c.deter, layers=2, units=c.hidden)
        self.aligner = Aligner(c.embed_dim, c.aligner_bottleneck)

    # ------------------------------------------------------------------ conditioning
    def embed_to_action(self, e: torch.Tensor) -> torch.Tensor:
        """(..., embed_dim) -> (..., embed_dim + n_frames): scaled embedding plus the zeroed temporal dims."""
        if e.shape[-1] != self.config.embed_dim:
            raise ValueError(f"embeddings must have size {self.config.embed_dim}, got {tuple(e.shape)}")
        if self.config.rescale_embeds:
            e = e * math.sqrt(self.config.embed_dim)
        return torch.cat([e, e.new_zeros(*e.shape[:-1], self.config.n_frames)], -1)

    def initial(self, action: torch.Tensor, sample: bool = True) -> LatentState:
        """Learned initial state: h = MLP(action), s drawn from the prior head at h (gradient kept)."""
        return self.rssm.prior_from_deter(self.initial_mlp(action), sample)

    def chunk_embeddings(self, clip_video: torch.Tensor) -> torch.Tensor:
        """Per-step conditioning from stored clip embeddings (B, T, D): step t gets row 8*(t//8) + 7.

        :raises ValueError: if T is not a multiple of ``n_frames``.
        """
        b, t, d = clip_video.shape
        n = self.config.n_frames
        if t % n:
            raise ValueError(f"sequence length {t} must be a multiple of n_frames={n} for the connector")
        ends = clip_video[:, n - 1 :: n]  # (B, T/n, D): embedding of frames [8k .. 8k+7]
        return ends.repeat_interleave(n, dim=1)

    # ------------------------------------------------------------------ training
    def loss(
        self, post: LatentState, post_probs: torch.Tensor, clip_video: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Teacher-forced connector loss plus the aligner loss on the chunk embeddings.

        :param post: world-model posterior states (B, T) (only ``stoch`` is used, detached).
        :param post_probs: unimixed posterior probabilities (B, T, stoch, classes) (detached here).
        :param clip_video: stored video embeddings (B, T, embed_dim).
        :return: (connector KL loss + aligner loss, metrics).
        """
        c = self.config
        action = self.embed_to_action(self.chunk_embeddings(clip_video))
        target = post_probs.detach()
        t = action.shape[1]
        probs = self.rssm.probs(self.teacher_forced_logits(post.stoch, action))
        kl = categorical_kl(probs, target).clamp(min=c.kl_free)
        kl_sg = categorical_kl(probs.detach(), target).clamp(min=c.kl_free)
        kl_loss = c.kl_balance * kl.mean() + (1.0 - c.kl_balance) * kl_sg.mean()
        chunk_e = clip_video[:, c.n_frames - 1 :: c.n_frames]
        align_loss = aligner_loss(self.aligner, chunk_e, c.lafite_noise)
        metrics = {"connector_kl": kl_loss.item(), "aligner_loss": align_loss.item()}
        starts = torch.arange(c.n_frames, t, c.n_frames)
        if len(starts):  # metric only: KL at chunk starts t = 8k, k >= 1, straight from the initial state
            with torch.no_grad():
                init = self.initial(action[:, starts])
                init_kl = categorical_kl(self.rssm.probs(init.logits), target[:, starts])
            metrics["connector_initial_kl"] = init_kl.mean().item()
        return kl_loss + align_loss, metrics

    def teacher_forced_logits(self, post_stoch: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Connector prior logits (B, T, stoch, classes) with teacher forcing.

        t = 0 steps from the learned initial state of ``action[:, 0]``; step t > 0 uses the (detached) world
        model posterior sample ``post_stoch[:, t-1]`` as previous s and the connector's own h.

        :param post_stoch: world-model posterior samples (B, T, stoch*classes).
        :param action: connector actions (B, T, embed_dim + n_frames), see :meth:`embed_to_action`.
        """
        prev_stoch = post_stoch.detach().unbind(1)
        steps = action.unbind(1)  # unbind: a cheap backward, unlike per-step indexing
        state = self.initial(steps[0])
        logits = []
        for i, a in enumerate(steps):
            if i > 0:
                state = LatentState(state.deter, prev_stoch[i - 1], state.logits)
            state = self.rssm.img_step(state, a)
            logits.append(state.logits)
        return torch.stack(logits, 1)

    # ------------------------------------------------------------------ generation
    def video_imagine(
        self, embeddings: torch.Tensor, steps: Optional[int] = None, sample: bool = False, denoise: bool = True
    ) -> LatentState:
        """Roll the connector from prompt embeddings.

        :param embeddings: (B, D) (repeated for ``steps`` steps) or (B, T, D) per-step embeddings.
        :param steps: number of generated states when ``embeddings`` is (B, D).
        :param sample: sample every rollout step (True) or take the mode (False, the prompt path). The
            initial stochastic state is always sampled, as in the reference.
        :param denoise: pass the embeddings through the aligner first (every prompt path does).
        :return: generated states (B, T) (the learned initial state is not included).
        """
        if embeddings.dim() == 2:
            if steps is None or steps < 1:
                raise ValueError(f"steps must be >= 1 for (B, D) embeddings, got {steps}")
            embeddings = embeddings.unsqueeze(1).expand(-1, steps, -1)
        if embeddings.dim() != 3:
            raise ValueError(f"embeddings must be (B, D) or (B, T, D), got {tuple(embeddings.shape)}")
        if denoise:
            embeddings = self.aligner.align(embeddings)
        action = self.embed_to_action(embeddings)
        state = self.initial(action[:, 0], sample=True)
        states = []
        for i in range(action.shape[1]):
            state = self.rssm.img_step(state, action[:, i], sample)
            states.append(state)
        return LatentState(*(torch.stack([getattr(s, f) for s in states], 1) for f in ("deter", "stoch", "logits")))


def make_connector_optimizer(connector: Connector) -> torch.optim.Adam:
    """Adam over connector + aligner with the world model's settings (a separate object; Adam's state is
    per parameter, so this equals the reference's shared optimiser restricted to these parameters)."""
    c = connector.config
    return torch.optim.Adam(connector.parameters(), lr=c.lr, eps=c.adam_eps, foreach=True)


def connector_update(
    connector: Connector, optimizer: torch.optim.Optimizer, post: LatentState, post_probs: torch.Tensor,
    clip_video: torch.Tensor,
) -> dict[str, float]:
    """One connector + aligner step on detached world-model posteriors: clip, weight decay, Adam."""
    loss, metrics = connector.loss(post, post_probs, clip_video)
    c = connector.config
    metrics["connector_grad_norm"] = apply_gradients(connector, optimizer, loss, c.grad_clip, c.weight_decay)
    return metrics


def decode_states(world_model: Any, states: LatentState) -> torch.Tensor:
    """Decode states (B, T) into uint8 frames (B, T, 64, 64, 3): decoder mean + 0.5, clamped to [0, 1]."""
    with torch.no_grad():
        images = (world_model.decode(states.stoch) + 0.5).clamp(0.0, 1.0)
    return (images * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2)


def decode_prompt(
    world_model: Any, connector: Connector, embedding: torch.Tensor, steps: int = 16
) -> torch.Tensor:
    """What the model understood of a prompt: roll the connector from a unit prompt embedding (D,) or (B, D)
    with the aligner and mode steps, and decode to uint8 frames (B, steps, 64, 64, 3)."""
    if embedding.dim() == 1:
        embedding = embedding.unsqueeze(0)
    with torch.no_grad():
        states = connector.video_imagine(F.normalize(embedding, dim=-1), steps=steps, sample=False, denoise=True)
    return decode_states(world_model, states)
