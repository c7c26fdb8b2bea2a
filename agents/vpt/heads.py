"""VPT's output heads (spec sections 3.3 step 7 and 12).

- :class:`CategoricalHead`: ``Linear(H, n)`` logits divided by the temperature, float32 log-softmax.
- :class:`ActionHeads`: the independent ``camera`` (121) and ``buttons`` (8641) categoricals. Sampling is
  Gumbel-max, ``argmax(logp - log(-log U))``, with the camera drawn first and then the buttons for the
  policy (the reference's order: with the same seed the same draws give the same actions).
- :class:`DiscreteActionHead`: one categorical ``action`` over a flat discrete action space (Crafter's 17
  actions), with the same interface as :class:`ActionHeads` (``forward``, ``sample``, ``log_prob``,
  ``entropy``, ``kl_divergence``, ``split``), so BC, the IDM and the SB3 policy use either unchanged.
- :class:`ValueHead`: ``Linear(H, 1)`` predicting a normalised value, denormalised with EWMA statistics.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: Order in which the heads draw their Gumbel noise.
SAMPLE_ORDER = ("camera", "buttons")


class CategoricalHead(nn.Module):
    """Categorical over ``n`` classes, possibly several independent ones (``shape``).

    :param hidsize: input width.
    :param n: classes.
    :param shape: independent categoricals per step (``()`` for the policy; ``(20,)``/``(2,)`` for the IDM).
    :param temperature: logits are divided by it.
    """

    def __init__(self, hidsize: int, n: int, shape: tuple[int, ...] = (), temperature: float = 1.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.n, self.shape, self.temperature = n, tuple(shape), float(temperature)
        size = n
        for s in self.shape:
            size *= s
        self.linear_layer = nn.Linear(hidsize, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H) -> log-probabilities (..., *shape, n), float32."""
        logits = self.linear_layer(x)
        logits = logits.reshape(*logits.shape[:-1], *self.shape, self.n) / self.temperature
        return F.log_softmax(logits.float(), dim=-1)


def gumbel_max(logp: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``argmax(logp - log(-log U))``, U uniform of ``logp``'s shape (U == 1 replaced by 0.999 as in the
    reference, which cannot change the argmax)."""
    u = torch.rand(logp.shape, generator=generator, device=logp.device, dtype=logp.dtype)
    u = torch.where(u == 1.0, torch.full_like(u, 0.999), u)
    return torch.argmax(logp - torch.log(-torch.log(u)), dim=-1)


class ActionHeads(nn.Module):
    """The policy's joint action heads ``buttons`` and ``camera``.

    :param hidsize: input width.
    :param n_buttons: button classes (8641).
    :param n_camera: camera classes (121).
    :param temperature: logit temperature (read from the ``.model`` file; 2.0 in the reference default).
    :param button_shape: per-step shape of the buttons head (``()``; the IDM uses ``(20,)`` with n=2).
    :param camera_shape: per-step shape of the camera head (``()``; the IDM uses ``(2,)`` with n=11).
    :param sample_order: which head draws its noise first (the reference follows its action-space dict:
        camera first for the policy, buttons first for the IDM).
    """

    #: Columns of an agent-action array ``[button class, camera class]`` (see :meth:`split`).
    agent_dims = 2

    def __init__(
        self,
        hidsize: int,
        n_buttons: int = 8641,
        n_camera: int = 121,
        temperature: float = 1.0,
        button_shape: tuple[int, ...] = (),
        camera_shape: tuple[int, ...] = (),
        sample_order: tuple[str, str] = SAMPLE_ORDER,
    ) -> None:
        super().__init__()
        if sorted(sample_order) != ["buttons", "camera"]:
            raise ValueError(f"sample_order must order 'buttons' and 'camera', got {sample_order!r}")
        self.sample_order = tuple(sample_order)
        self.buttons = CategoricalHead(hidsize, n_buttons, button_shape, temperature)
        self.camera = CategoricalHead(hidsize, n_camera, camera_shape, temperature)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"buttons": self.buttons(x), "camera": self.camera(x)}

    def split(self, actions: torch.Tensor) -> dict[str, torch.Tensor]:
        """Agent actions ``(..., 2)`` ``[button class, camera class]`` -> ``{"buttons": (...), "camera": (...)}``."""
        return {"buttons": actions[..., 0], "camera": actions[..., 1]}

    def sample(
        self, logp: dict[str, torch.Tensor], deterministic: bool = False, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Argmax (deterministic) or Gumbel-max samples, drawn in ``sample_order``."""
        if deterministic:
            return {k: torch.argmax(logp[k], dim=-1) for k in self.sample_order}
        return {k: gumbel_max(logp[k], generator) for k in self.sample_order}

    def _reduce(self, key: str, x: torch.Tensor) -> torch.Tensor:
        """Sum a per-sub-action quantity over the head's own shape (the IDM's 20 buttons / 2 axes)."""
        n = len(getattr(self, key).shape)
        return x.sum(dim=tuple(range(-n, 0))) if n else x

    def log_prob(self, logp: dict[str, torch.Tensor], action: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sum over both heads (and over the IDM's independent sub-actions) of the actions' log-probs."""
        total = 0
        for key in SAMPLE_ORDER:
            a = action[key].long()
            n = logp[key].shape[-1]
            if a.numel() and (a.min() < 0 or a.max() >= n):
                raise ValueError(
                    f"{key} actions must be in [0, {n}), got values in [{a.min().item()}, {a.max().item()}]"
                )
            lp = logp[key].gather(-1, a.unsqueeze(-1)).squeeze(-1)
            total = total + self._reduce(key, lp)
        return total

    def entropy(self, logp: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sum of both heads' entropies."""
        return sum(self._reduce(k, -(logp[k].exp() * logp[k]).sum(-1)) for k in SAMPLE_ORDER)

    def kl_divergence(self, logp_q: dict[str, torch.Tensor], logp_p: dict[str, torch.Tensor]) -> torch.Tensor:
        """KL(q || p) summed over both heads."""
        return sum(self._reduce(k, (logp_q[k].exp() * (logp_q[k] - logp_p[k])).sum(-1)) for k in SAMPLE_ORDER)


class DiscreteActionHead(nn.Module):
    """One categorical ``action`` over ``n`` classes (Crafter's 17 actions), with :class:`ActionHeads`'s
    interface. The state-dict keys are ``action.linear_layer.*``.

    :param hidsize: input width.
    :param n: number of actions.
    :param temperature: logits are divided by it (as VPT's ``pi_head_opts.temperature``).

    Example::

        >>> import torch
        >>> head = DiscreteActionHead(8, 17, temperature=2.0)
        >>> logp = head(torch.zeros(2, 3, 8))
        >>> logp["action"].shape, head.log_prob(logp, {"action": torch.zeros(2, 3, dtype=torch.long)}).shape
        (torch.Size([2, 3, 17]), torch.Size([2, 3]))
    """

    #: Columns of an agent-action array ``[action index]`` (see :meth:`split`).
    agent_dims = 1

    def __init__(self, hidsize: int, n: int, temperature: float = 1.0) -> None:
        super().__init__()
        if n < 2:
            raise ValueError(f"a discrete action head needs n >= 2 actions, got {n}")
        self.n = n
        self.action = CategoricalHead(hidsize, n, (), temperature)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(..., H) -> ``{"action": (..., n)}`` temperature-scaled float32 log-probabilities."""
        return {"action": self.action(x)}

    def split(self, actions: torch.Tensor) -> dict[str, torch.Tensor]:
        """Agent actions ``(..., 1)`` -> ``{"action": (...)}``."""
        return {"action": actions[..., 0]}

    def sample(
        self, logp: dict[str, torch.Tensor], deterministic: bool = False, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Argmax (deterministic) or a Gumbel-max sample (the same sampler as the Minecraft heads)."""
        if deterministic:
            return {"action": torch.argmax(logp["action"], dim=-1)}
        return {"action": gumbel_max(logp["action"], generator)}

    def log_prob(self, logp: dict[str, torch.Tensor], action: dict[str, torch.Tensor]) -> torch.Tensor:
        """``log pi(action)`` per step. :raises ValueError: for an action outside ``[0, n)``."""
        a = action["action"].long()
        if a.numel() and (a.min() < 0 or a.max() >= self.n):
            raise ValueError(
                f"action indices must be in [0, {self.n}), got values in [{a.min().item()}, {a.max().item()}]"
            )
        return logp["action"].gather(-1, a.unsqueeze(-1)).squeeze(-1)

    def entropy(self, logp: dict[str, torch.Tensor]) -> torch.Tensor:
        return -(logp["action"].exp() * logp["action"]).sum(-1)

    def kl_divergence(self, logp_q: dict[str, torch.Tensor], logp_p: dict[str, torch.Tensor]) -> torch.Tensor:
        """KL(q || p) per step."""
        return (logp_q["action"].exp() * (logp_q["action"] - logp_p["action"])).sum(-1)


class EwmaNormalizer(nn.Module):
    """The reference's ``NormalizeEwma`` (shape 1, beta 0.99999, eps 1e-5, variance floor 1e-2).

    The three statistics are *parameters* (``requires_grad=False``) as in the reference, so they are in
    the state dict and counted in the parameter totals.

    :param size: value size (1).
    :param beta: EWMA decay.
    :param epsilon: floor of the debiasing term.
    """

    def __init__(self, size: int = 1, beta: float = 0.99999, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.beta, self.epsilon = beta, epsilon
        self.running_mean = nn.Parameter(torch.zeros(size), requires_grad=False)
        self.running_mean_sq = nn.Parameter(torch.zeros(size), requires_grad=False)
        self.debiasing_term = nn.Parameter(torch.tensor(0.0), requires_grad=False)

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        debias = self.debiasing_term.clamp(min=self.epsilon)
        mean = self.running_mean / debias
        var = (self.running_mean_sq / debias - mean**2).clamp(min=1e-2)
        return mean, var

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """One EWMA update with the batch mean of ``x`` (B, T, size) over its first two axes."""
        x = x.float()
        w = self.beta
        self.running_mean.mul_(w).add_(x.mean(dim=(0, 1)) * (1 - w))
        self.running_mean_sq.mul_(w).add_((x**2).mean(dim=(0, 1)) * (1 - w))
        self.debiasing_term.mul_(w).add_(1 - w)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, var = self.mean_var()
        return (x.float() - mean) / var.sqrt()

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, var = self.mean_var()
        return x.float() * var.sqrt() + mean


class ValueHead(nn.Module):
    """``Linear(H, 1)`` normalised value plus its EWMA normaliser (the reference's ``ScaledMSEHead``).

    :param hidsize: input width.
    """

    def __init__(self, hidsize: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidsize, 1)
        self.normalizer = EwmaNormalizer(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised value prediction (..., 1)."""
        return self.linear(x)

    def denormalize(self, v: torch.Tensor) -> torch.Tensor:
        return self.normalizer.denormalize(v)

    def loss(self, prediction: torch.Tensor, target: torch.Tensor, update: bool = True) -> torch.Tensor:
        """MSE between the normalised prediction and the normalised target (updating the statistics first
        when ``update``, as the reference does in training mode)."""
        if update:
            self.normalizer.update(target)
        return F.mse_loss(prediction.float(), self.normalizer.normalize(target))
