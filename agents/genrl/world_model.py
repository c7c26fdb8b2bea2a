"""GenRL's world model (MFWM backbone): encoder, RSSM, decoder, reward head, loss and optimiser.

Spec ``shared/specs/genrl.md`` sections 1 and 11-12. Loss::

    L = 0.6 * KL_term + image_MSE_sum + reward_loss
    KL_term = 0.85 * mean(max(1, KL(sg(post) || prior))) + 0.15 * mean(max(1, KL(post || sg(prior))))

with free nats clamped per sample and step before the mean, the image MSE summed over C, H, W and averaged
over batch and time, and the two-hot reward head trained on stop-gradient features. The optimiser is Adam
(lr 1e-4, eps 1e-8) after gradient-norm clipping at 1000 and decoupled weight decay (p *= 1 - 1e-6).

The reference runs fp16 autocast on GPU but fp32 on the CPU (spec section 11); this module runs fp32.

Example::

    >>> import torch
    >>> from agents.genrl.world_model import WorldModel, WorldModelConfig
    >>> wm = WorldModel(WorldModelConfig.small(action_dim=2))
    >>> batch = {"observation": torch.zeros(2, 3, 3, 64, 64, dtype=torch.uint8),
    ...          "action": torch.zeros(2, 3, 2), "reward": torch.zeros(2, 3),
    ...          "is_first": torch.zeros(2, 3, dtype=torch.bool)}
    >>> loss, metrics, _ = wm.loss(batch)
    >>> sorted(metrics)[:3]
    ['image_loss', 'kl', 'kl_loss']
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional

import torch
from torch import nn

from agents.genrl.networks import MLP, ConvDecoder, ConvEncoder, image_phases
from agents.genrl.rssm import RSSM, LatentState, categorical_kl


@dataclass
class WorldModelConfig:
    """Hyper-parameters of the world model (defaults = the official GenRL config).

    :param action_dim: action size (6 for walker).
    :param cnn_depth: encoder/decoder base channels (48).
    :param deter: GRU state size (1024).
    :param hidden: RSSM hidden width (1024).
    :param stoch: categorical variables (32).
    :param classes: classes per variable (32).
    :param unimix: uniform mixture of the categoricals (0.01).
    :param reward_layers: hidden layers of the reward head (4).
    :param reward_units: width of the reward head (1024).
    :param reward_bins: two-hot bins (255), spanning [-reward_range, reward_range] in symlog space.
    :param reward_range: symlog bin range (20).
    :param kl_scale: weight of the KL term (0.6).
    :param kl_balance: weight of the dynamics term KL(sg(post) || prior) (0.85).
    :param kl_free: free nats, clamped per sample and step (1.0).
    :param image_scale: weight of the image loss (1.0).
    :param reward_scale: weight of the reward loss (1.0).
    :param lr: Adam learning rate (1e-4).
    :param adam_eps: Adam epsilon (1e-8).
    :param grad_clip: gradient-norm clip (1000).
    :param weight_decay: decoupled decay factor per step (1e-6).
    """

    action_dim: int = 6
    cnn_depth: int = 48
    deter: int = 1024
    hidden: int = 1024
    stoch: int = 32
    classes: int = 32
    unimix: float = 0.01
    reward_layers: int = 4
    reward_units: int = 1024
    reward_bins: int = 255
    reward_range: float = 20.0
    kl_scale: float = 0.6
    kl_balance: float = 0.85
    kl_free: float = 1.0
    image_scale: float = 1.0
    reward_scale: float = 1.0
    lr: float = 1e-4
    adam_eps: float = 1e-8
    grad_clip: float = 1000.0
    weight_decay: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("action_dim", "cnn_depth", "deter", "hidden", "stoch", "classes", "reward_units", "reward_bins"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"WorldModelConfig.{name} must be a positive int, got {value!r}")
        if not 0.0 <= self.unimix < 1.0:
            raise ValueError(f"WorldModelConfig.unimix must be in [0, 1), got {self.unimix}")
        if not 0.0 <= self.kl_balance <= 1.0:
            raise ValueError(f"WorldModelConfig.kl_balance must be in [0, 1], got {self.kl_balance}")

    @classmethod
    def official(cls, action_dim: int = 6) -> "WorldModelConfig":
        """GenRL's released configuration (28,731,554 parameters with a 6-d action)."""
        return cls(action_dim=action_dim)

    @classmethod
    def small(cls, action_dim: int = 6) -> "WorldModelConfig":
        """A CPU-sized configuration: the reference's scaled-down timing config (cnn_depth 8,
        deter/hidden 64, 8x8 latents) with a 2 x 64 reward head."""
        return cls(
            action_dim=action_dim, cnn_depth=8, deter=64, hidden=64, stoch=8, classes=8,
            reward_layers=2, reward_units=64,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "WorldModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown WorldModelConfig keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**dict(data))


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))


class TwoHotHead(nn.Module):
    """MLP with a zero-initialised output over ``bins`` two-hot bins in symlog space.

    :param in_dim: feature size. :param layers: hidden blocks. :param units: width.
    :param bins: number of bins. :param value_range: bins span [-value_range, value_range] (symlog space).
    """

    def __init__(self, in_dim: int, layers: int, units: int, bins: int = 255, value_range: float = 20.0) -> None:
        super().__init__()
        self.mlp = MLP(in_dim, bins, layers, units, zero_output=True)
        self.register_buffer("bins", torch.linspace(-value_range, value_range, bins), persistent=False)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return self.mlp(feature)

    def log_prob(self, logits: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """log p(value) under the two-hot distribution: sum_k twohot_k(symlog(value)) log_softmax_k."""
        return (self.two_hot(value) * torch.log_softmax(logits, -1)).sum(-1)

    def two_hot(self, value: torch.Tensor) -> torch.Tensor:
        y = symlog(value).unsqueeze(-1)
        n = self.bins.shape[0]
        below = ((self.bins <= y).sum(-1) - 1).clamp(0, n - 1)
        above = (n - (self.bins > y).sum(-1)).clamp(0, n - 1)
        equal = below == above
        y = y.squeeze(-1)
        dist_below = torch.where(equal, torch.ones_like(y), (self.bins[below] - y).abs())
        dist_above = torch.where(equal, torch.ones_like(y), (self.bins[above] - y).abs())
        total = dist_below + dist_above
        one_hot = torch.nn.functional.one_hot
        return one_hot(below, n) * (dist_above / total).unsqueeze(-1) + one_hot(above, n) * (
            dist_below / total
        ).unsqueeze(-1)

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        """Expected value, symexp of the probability-weighted bins."""
        return symexp((torch.softmax(logits, -1) * self.bins).sum(-1))


def kl_balance_loss(
    post_probs: torch.Tensor, prior_probs: torch.Tensor, balance: float, free: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """GenRL's balanced KL with per-step free nats (``forward False``, ``free_avg False``).

    :param post_probs: posterior probabilities (..., stoch, classes), already unimixed.
    :param prior_probs: prior probabilities, same shape.
    :param balance: weight of the dynamics term KL(sg(post) || prior); 1 - balance goes to KL(post || sg(prior)).
    :param free: free nats; each per-step KL is clamped below at ``free`` before the mean.
    :return: (loss, mean KL(post || prior) value).
    """
    rep = categorical_kl(post_probs, prior_probs.detach())
    dyn = categorical_kl(post_probs.detach(), prior_probs)
    loss = balance * dyn.clamp(min=free).mean() + (1.0 - balance) * rep.clamp(min=free).mean()
    return loss, rep.detach().mean()


_BATCH_KEYS = ("observation", "action", "reward", "is_first")


class WorldModel(nn.Module):
    """GenRL's multimodal-foundation world model backbone.

    :param config: hyper-parameters, see :class:`WorldModelConfig`.
    """

    def __init__(self, config: WorldModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = ConvEncoder(c.cnn_depth)
        self.rssm = RSSM(c.action_dim, self.encoder.embed_dim, c.deter, c.hidden, c.stoch, c.classes, c.unimix)
        self.decoder = ConvDecoder(c.stoch * c.classes, c.cnn_depth)
        self.reward_head = TwoHotHead(
            c.stoch * c.classes + c.deter, c.reward_layers, c.reward_units, c.reward_bins, c.reward_range
        )

    @staticmethod
    def preprocess(observation: torch.Tensor) -> torch.Tensor:
        """uint8 images -> float in [-0.5, 0.5] (x / 255 - 0.5)."""
        return observation.float() / 255.0 - 0.5

    def check_batch(self, batch: Mapping[str, torch.Tensor]) -> tuple[int, int]:
        """Validate a training batch and return (B, T)."""
        missing = [k for k in _BATCH_KEYS if k not in batch]
        if missing:
            raise KeyError(f"batch is missing keys {missing}; expected {list(_BATCH_KEYS)}")
        obs = batch["observation"]
        if obs.dim() != 5 or tuple(obs.shape[2:]) != (3, 64, 64):
            raise ValueError(f"batch['observation'] must be (B, T, 3, 64, 64), got {tuple(obs.shape)}")
        if obs.dtype != torch.uint8:
            raise TypeError(f"batch['observation'] must be uint8, got {obs.dtype}")
        b, t = obs.shape[:2]
        act = batch["action"]
        if tuple(act.shape) != (b, t, self.config.action_dim):
            raise ValueError(f"batch['action'] must be {(b, t, self.config.action_dim)}, got {tuple(act.shape)}")
        rew = batch["reward"]
        if tuple(rew.shape) not in ((b, t), (b, t, 1)):
            raise ValueError(f"batch['reward'] must be (B, T) or (B, T, 1) = {(b, t)}, got {tuple(rew.shape)}")
        if tuple(batch["is_first"].shape) != (b, t):
            raise ValueError(f"batch['is_first'] must be {(b, t)}, got {tuple(batch['is_first'].shape)}")
        for key in ("action", "reward"):
            if not torch.isfinite(batch[key]).all():
                raise ValueError(f"batch[{key!r}] contains NaN or inf")
        return b, t

    def encode(self, observation: torch.Tensor) -> torch.Tensor:
        """Image embeddings (..., embed_dim) of uint8 observations (..., 3, 64, 64)."""
        if observation.dtype != torch.uint8 or tuple(observation.shape[-3:]) != (3, 64, 64):
            raise ValueError(f"observations must be uint8 (..., 3, 64, 64), got {observation.dtype} "
                             f"{tuple(observation.shape)}")
        lead = observation.shape[:-3]
        x = self.preprocess(observation.reshape(-1, 3, 64, 64))
        return self.encoder(x).reshape(*lead, -1)

    def observe(
        self, batch: Mapping[str, torch.Tensor], sample: bool = True, images: Optional[torch.Tensor] = None
    ) -> tuple[LatentState, LatentState]:
        """Encode a batch and return (posterior, prior) states with leading dims (B, T).

        :param images: ``preprocess(batch["observation"])`` if already computed.
        """
        b, t = self.check_batch(batch)
        if images is None:
            images = self.preprocess(batch["observation"])
        embed = self.encoder(images.flatten(0, 1)).reshape(b, t, -1)
        return self.rssm.observe(embed, batch["action"].float(), batch["is_first"].bool(), sample=sample)

    def decode(self, stoch: torch.Tensor) -> torch.Tensor:
        """Image means (..., 3, 64, 64) in [-0.5, 0.5] space from flattened stochastic states (..., S*K)."""
        lead = stoch.shape[:-1]
        return self.decoder(stoch.reshape(-1, stoch.shape[-1])).reshape(*lead, 3, 64, 64)

    def loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float], LatentState]:
        """World-model loss of a batch.

        :param batch: dict of tensors: ``observation`` (B, T, 3, 64, 64) uint8, ``action`` (B, T, A),
            ``reward`` (B, T) or (B, T, 1), ``is_first`` (B, T) bool.
        :return: (scalar loss, float metrics, posterior states).
        """
        c = self.config
        b, t = self.check_batch(batch)
        # The image enters once, in the phase layout (a space-to-depth, see networks.image_phases) that the
        # encoder's first conv reads and the decoder's last conv writes. The squared error is summed over
        # C, H, W (a sum does not see the pixel order) and averaged over B and T; neither the target nor
        # the reconstruction nor its gradient is ever interleaved into an NCHW image.
        images = image_phases(batch["observation"].flatten(0, 1))
        embed = self.encoder.forward_phases(images).reshape(b, t, -1)
        post, prior = self.rssm.observe(embed, batch["action"].float(), batch["is_first"].bool())
        kl_loss, kl_value = kl_balance_loss(
            self.rssm.probs(post.logits), self.rssm.probs(prior.logits), c.kl_balance, c.kl_free
        )
        recon = self.decoder.forward_phases(post.stoch.flatten(0, 1))
        image_loss = summed_squared_error(recon, images) / (b * t)
        reward = batch["reward"].float()
        if reward.dim() == 3:
            reward = reward.squeeze(-1)
        reward_logits = self.reward_head(post.feature().detach())
        reward_loss = -self.reward_head.log_prob(reward_logits, reward).mean()
        loss = c.kl_scale * kl_loss + c.image_scale * image_loss + c.reward_scale * reward_loss
        metrics = {
            "loss": loss.item(),
            "kl_loss": kl_loss.item(),
            "kl": kl_value.item(),
            "image_loss": image_loss.item(),
            "reward_loss": reward_loss.item(),
            "post_entropy": _entropy(self.rssm.probs(post.logits.detach())),
            "prior_entropy": _entropy(self.rssm.probs(prior.logits.detach())),
        }
        return loss, metrics, post


class _SummedSquaredError(torch.autograd.Function):
    """sum((prediction - target)^2); the difference is the only image-sized buffer, and backward turns it
    into the gradient in place."""

    @staticmethod
    def forward(ctx: Any, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = torch.sub(prediction, target)
        ctx.save_for_backward(diff)
        ctx.used = False
        return _sum_of_squares(_flat(diff)).to(prediction.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        if ctx.used:
            raise RuntimeError("summed_squared_error's backward reuses its buffer and can run only once "
                               "(no retain_graph)")
        ctx.used = True
        (diff,) = ctx.saved_tensors
        return diff.mul_(2.0 * grad), None


_DOT_CHUNK = 16384


def _sum_of_squares(flat: torch.Tensor) -> torch.Tensor:
    """sum(flat ** 2) as BLAS dots over 16k-element chunks whose partial sums are added in float64: ten times
    faster than ``square().sum()`` here and as accurate (relative error ~2e-8 on 12.6M elements, where a
    single float32 dot drifts by ~2e-4)."""
    return torch.stack([torch.dot(c, c) for c in flat.split(_DOT_CHUNK)]).double().sum()


def _flat(x: torch.Tensor) -> torch.Tensor:
    """A 1-d view of a dense tensor in its memory order (contiguous or channels-last), copying otherwise."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1).reshape(-1)
    return x.reshape(-1)


def summed_squared_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``((prediction - target) ** 2).sum()``, differentiable in ``prediction`` only: the value of
    ``F.mse_loss(prediction, target, reduction="sum")`` up to float summation order, the same gradient
    ``2 (prediction - target)``, with one image-sized buffer instead of three and a chunked BLAS sum
    (see :func:`_sum_of_squares`). Its backward can run once (no ``retain_graph``).
    """
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")
    if target.requires_grad:
        raise ValueError("the target of summed_squared_error must not require grad")
    return _SummedSquaredError.apply(prediction, target)


def _entropy(probs: torch.Tensor) -> float:
    return float(-(probs * probs.log()).sum((-2, -1)).mean())


def make_optimizer(model: WorldModel) -> torch.optim.Adam:
    """Adam with the config's lr and eps (weight decay is applied separately, see :func:`update`)."""
    # foreach: the multi-tensor implementation, same arithmetic, far fewer kernel launches on the CPU
    return torch.optim.Adam(model.parameters(), lr=model.config.lr, eps=model.config.adam_eps, foreach=True)


def update(model: WorldModel, optimizer: torch.optim.Optimizer, batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """One world-model gradient step: loss, backward, clip grad norm, weight decay, Adam.

    :return: metrics including ``grad_norm`` (before clipping).
    """
    loss, metrics, _ = model.loss(batch)
    metrics["grad_norm"] = apply_gradients(model, optimizer, loss, model.config.grad_clip, model.config.weight_decay)
    return metrics


def apply_gradients(
    module: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, grad_clip: float, weight_decay: float
) -> float:
    """Backward ``loss``, clip the gradient norm of ``module``, decay its parameters, step ``optimizer``.

    The order is the reference's (spec section 12): clip, then weight decay (p *= 1 - weight_decay, on every
    parameter of ``module``), then Adam.

    :return: the gradient norm before clipping.
    """
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is not finite: {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for p in module.parameters() if p.grad is not None]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(1.0 - weight_decay)
    optimizer.step()
    return float(grad_norm)
