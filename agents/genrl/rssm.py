"""GenRL's sequence model: a recurrent state-space model with 32x32 categorical latents.

Spec ``shared/specs/genrl.md`` sections 1.3 and 12. What differs from a textbook RSSM:

* the posterior q(s_t | x_t) sees only the image embedding, never h_t (``single_obs_posterior``);
* categoricals are unimixed: p = 0.99 softmax(logits) + 0.01 uniform, for prior and posterior alike;
* samples are straight-through, one_hot + p - sg(p); the mode is one_hot(argmax) + log p - sg(log p);
* the step for observation x_t uses ``action[t]`` (the action stored with x_t, the one that preceded it);
  previous state and action are zeroed where ``is_first``.

Because the posterior does not depend on h, :meth:`RSSM.observe` computes all posteriors of a sequence at
once and runs only the GRU's recurrent matmul inside the time loop; the numbers are those of the
step-by-step recurrence (up to float summation order), it is only faster.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from agents.genrl.networks import MLP, VECTOR_LN_EPS, DenseLNBlock


@dataclass
class LatentState:
    """A (batch of) model state(s). Leading dims are free, e.g. (B,) or (B, T).

    :param deter: deterministic state h, (..., deter).
    :param stoch: flattened one-hot stochastic state s (with straight-through gradient), (..., stoch*classes).
    :param logits: raw logits of the distribution s was drawn from, (..., stoch, classes).
    """

    deter: torch.Tensor
    stoch: torch.Tensor
    logits: torch.Tensor

    def feature(self) -> torch.Tensor:
        """Model feature concat(s, h) used by the heads and the actor-critic."""
        return torch.cat([self.stoch, self.deter], -1)

    def detach(self) -> "LatentState":
        return LatentState(self.deter.detach(), self.stoch.detach(), self.logits.detach())

    def index(self, *idx: object) -> "LatentState":
        """Index every field the same way over the leading dims, e.g. ``state.index(slice(None), t)``."""
        return LatentState(self.deter[idx], self.stoch[idx], self.logits[idx])


def unimix_probs(logits: torch.Tensor, unimix: float = 0.01) -> torch.Tensor:
    """(1 - unimix) softmax(logits) + unimix / classes over the last axis."""
    probs = torch.softmax(logits, -1)
    if unimix > 0.0:
        probs = (1.0 - unimix) * probs + unimix / logits.shape[-1]
    return probs


def sample_straight_through(probs: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Draw one-hot samples from categoricals ``probs`` (..., classes); gradient flows as p - sg(p)."""
    flat = probs.detach().reshape(-1, probs.shape[-1])
    idx = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
    one_hot = F.one_hot(idx, probs.shape[-1]).to(probs.dtype).reshape(probs.shape)
    return one_hot + probs - probs.detach()


def mode_straight_through(probs: torch.Tensor) -> torch.Tensor:
    """One-hot argmax of ``probs``; gradient flows as log p - sg(log p) (the reference's mode estimator)."""
    one_hot = F.one_hot(probs.detach().argmax(-1), probs.shape[-1]).to(probs.dtype)
    log_p = torch.log(probs)
    return one_hot + log_p - log_p.detach()


def categorical_kl(p_probs: torch.Tensor, q_probs: torch.Tensor) -> torch.Tensor:
    """KL(p || q) of independent categoricals (..., variables, classes), summed over the variables."""
    return (p_probs * (torch.log(p_probs) - torch.log(q_probs))).sum((-2, -1))


class LayerNormGRUCell(nn.Module):
    """GRU cell with one bias-free gate Linear on concat(x, h), LayerNorm(3*size), update bias -1.

    reset, cand, update = split(LN(W [x; h])); cand = tanh(sigmoid(reset) * cand);
    update = sigmoid(update - 1); h' = update * cand + (1 - update) * h.

    :param input_dim: size of x.
    :param size: size of h.
    :param update_bias: added to the update pre-activation (-1).
    """

    def __init__(self, input_dim: int, size: int, update_bias: float = -1.0) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.size = size
        self.update_bias = update_bias
        self.linear = nn.Linear(input_dim + size, 3 * size, bias=False)
        self.norm = nn.LayerNorm(3 * size, eps=VECTOR_LN_EPS)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.gates(self.norm(self.linear(torch.cat([x, h], -1))), h)

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """The x part of the gate matmul, W_x x (lets a sequence precompute it for all steps)."""
        return F.linear(x, self.linear.weight[:, : self.input_dim])

    def recurrent_weight(self) -> torch.Tensor:
        """The h part W_h of the gate weight, made contiguous once (for a whole sequence)."""
        return self.linear.weight[:, self.input_dim :].contiguous()

    def step_projected(self, x_proj: torch.Tensor, h: torch.Tensor, w_h: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One step given ``input_projection(x)``: same value as ``forward(x, h)``.

        :param w_h: ``recurrent_weight()``, passed in by loops so that it is not copied at every step.
        """
        if w_h is None:
            w_h = self.recurrent_weight()
        parts = x_proj + F.linear(h, w_h)
        return self.gates(self.norm(parts), h)

    def gates(self, parts: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        reset, cand, update = parts.split(self.size, -1)
        cand = torch.tanh(torch.sigmoid(reset) * cand)
        update = torch.sigmoid(update + self.update_bias)
        return update * cand + (1.0 - update) * h


class RSSM(nn.Module):
    """GenRL's RSSM: sequence model, prior (dynamics predictor) and observation-only posterior.

    :param action_dim: size of the action vector.
    :param embed_dim: size of the image embedding (posterior input).
    :param deter: size of h (1024).
    :param hidden: width of the hidden layers (1024).
    :param stoch: number of categorical variables (32).
    :param classes: classes per variable (32).
    :param unimix: uniform mixture weight (0.01).
    :param posterior: build the posterior branch (the connector, a subclass, has none).
    """

    def __init__(
        self,
        action_dim: int,
        embed_dim: int,
        deter: int = 1024,
        hidden: int = 1024,
        stoch: int = 32,
        classes: int = 32,
        unimix: float = 0.01,
        posterior: bool = True,
    ) -> None:
        super().__init__()
        self.action_dim = action_dim
        self.embed_dim = embed_dim
        self.deter_dim = deter
        self.stoch = stoch
        self.classes = classes
        self.stoch_dim = stoch * classes
        self.unimix = unimix
        self.img_in = DenseLNBlock(self.stoch_dim + action_dim, hidden)
        self.gru = LayerNormGRUCell(hidden, deter)
        self.prior_net = MLP(deter, self.stoch_dim, layers=1, units=hidden)
        self.post_net = MLP(embed_dim, self.stoch_dim, layers=1, units=hidden) if posterior else None

    # ---------------------------------------------------------------- distributions
    def _logits(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x).reshape(*x.shape[:-1], self.stoch, self.classes)

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Unimixed probabilities of ``logits`` (..., stoch, classes)."""
        return unimix_probs(logits, self.unimix)

    def draw(self, logits: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """Flattened straight-through sample (or mode) of the unimixed categoricals ``logits``."""
        probs = self.probs(logits)
        one_hot = sample_straight_through(probs) if sample else mode_straight_through(probs)
        return one_hot.flatten(-2)

    def prior_from_deter(self, deter: torch.Tensor, sample: bool = True) -> LatentState:
        """Prior state p(s | h) for deterministic states ``deter`` (..., deter)."""
        logits = self._logits(self.prior_net, deter)
        return LatentState(deter, self.draw(logits, sample), logits)

    def posterior_logits(self, embed: torch.Tensor) -> torch.Tensor:
        """Posterior logits q(s | x) from image embeddings (..., embed_dim); h is not an input."""
        if self.post_net is None:
            raise RuntimeError("this RSSM has no posterior branch")
        if embed.shape[-1] != self.embed_dim:
            raise ValueError(f"embedding size must be {self.embed_dim}, got {embed.shape[-1]}")
        return self._logits(self.post_net, embed)

    def initial(self, batch: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> LatentState:
        """The zero state (h = 0, s = 0) the reference starts every sequence from."""
        return LatentState(
            torch.zeros(batch, self.deter_dim, device=device, dtype=dtype),
            torch.zeros(batch, self.stoch_dim, device=device, dtype=dtype),
            torch.zeros(batch, self.stoch, self.classes, device=device, dtype=dtype),
        )

    # ---------------------------------------------------------------- dynamics
    def img_step(self, prev: LatentState, action: torch.Tensor, sample: bool = True) -> LatentState:
        """One prior step: h' = GRU(img_in([s; a]), h), s' ~ p(s' | h').

        :param prev: state at t-1 (leading dims (N,)).
        :param action: action a_t (N, action_dim), the one taken after ``prev``.
        """
        self._check_action(action)
        x = self.img_in(torch.cat([prev.stoch, action], -1))
        deter = self.gru(x, prev.deter)
        return self.prior_from_deter(deter, sample)

    def obs_step(
        self,
        prev: LatentState,
        action: torch.Tensor,
        embed: torch.Tensor,
        is_first: torch.Tensor,
        sample: bool = True,
    ) -> tuple[LatentState, LatentState]:
        """One filtering step (online use, e.g. one env step at a time): same result as :meth:`observe`.

        :param prev: posterior state of the previous step, leading dim (N,) (``initial(N)`` at the start).
        :param action: (N, action_dim), the action that led to this observation.
        :param embed: (N, embed_dim) image embedding of this observation.
        :param is_first: (N,) bool; zeroes ``prev`` and ``action`` where set.
        :return: (posterior, prior) at this step.
        """
        keep = (~is_first.bool()).to(embed.dtype).unsqueeze(-1)
        prev = LatentState(prev.deter * keep, prev.stoch * keep, prev.logits)
        prior = self.img_step(prev, action * keep)
        logits = self.posterior_logits(embed)
        return LatentState(prior.deter, self.draw(logits, sample), logits), prior

    def observe(
        self,
        embed: torch.Tensor,
        action: torch.Tensor,
        is_first: torch.Tensor,
        state: Optional[LatentState] = None,
        sample: bool = True,
    ) -> tuple[LatentState, LatentState]:
        """Posterior and prior states of a batch of sequences.

        :param embed: (B, T, embed_dim) image embeddings.
        :param action: (B, T, action_dim); ``action[:, t]`` is used at step t (it preceded x_t).
        :param is_first: (B, T) bool; resets state and action to zero at those steps.
        :param state: state before step 0 (zeros if None), leading dim (B,).
        :param sample: sample the posterior (True) or take its mode.
        :return: (posterior, prior), each with leading dims (B, T). Both share h_t.
        """
        if embed.dim() != 3:
            raise ValueError(f"embed must be (B, T, E), got {tuple(embed.shape)}")
        b, t = embed.shape[:2]
        if action.shape[:2] != (b, t) or is_first.shape != (b, t):
            raise ValueError(
                f"action {tuple(action.shape)} and is_first {tuple(is_first.shape)} must match embed's "
                f"(B, T) = {(b, t)}"
            )
        self._check_action(action)
        if state is None:
            state = self.initial(b, embed.device, embed.dtype)
        post_logits = self.posterior_logits(embed)
        post_stoch = self.draw(post_logits, sample)

        keep = (~is_first.bool()).to(embed.dtype).unsqueeze(-1)  # (B, T, 1)
        prev_stoch = torch.cat([state.stoch.unsqueeze(1), post_stoch[:, :-1]], 1) * keep
        x = self.img_in(torch.cat([prev_stoch, action * keep], -1))
        x_proj = self.gru.input_projection(x)  # (B, T, 3*deter)
        h = state.deter
        w_h = self.gru.recurrent_weight()
        deters = []
        # unbind (not x_proj[:, i]): its backward is one stack, not a zero-filled (B, T, 3*deter) per step
        for x_t, keep_t in zip(x_proj.unbind(1), keep.unbind(1)):
            h = self.gru.step_projected(x_t, h * keep_t, w_h)
            deters.append(h)
        deter = torch.stack(deters, 1)
        prior = self.prior_from_deter(deter, sample=True)
        post = LatentState(deter, post_stoch, post_logits)
        return post, prior

    def imagine(
        self,
        start: LatentState,
        policy: Callable[[torch.Tensor], torch.Tensor],
        horizon: int,
        sample: bool = True,
    ) -> tuple[LatentState, torch.Tensor]:
        """Roll the prior forward with actions from ``policy``, which sees stop-gradient features.

        :param start: start states, leading dim (N,).
        :param policy: maps features (N, stoch_dim + deter) to actions (N, action_dim).
        :param horizon: number of prior steps; the result has ``horizon + 1`` states including ``start``.
        :return: (states with leading dims (horizon + 1, N), actions (horizon + 1, N, action_dim)); the
            last action is the policy's choice at the last state (not used by the rollout).
        """
        states, actions = [start], []
        state = start
        for _ in range(horizon):
            action = policy(state.feature().detach())
            actions.append(action)
            state = self.img_step(state, action, sample)
            states.append(state)
        actions.append(policy(state.feature().detach()))
        return _stack(states), torch.stack(actions, 0)

    def imagine_with_actions(self, start: LatentState, actions: torch.Tensor, sample: bool = True) -> LatentState:
        """Open-loop prior rollout: state t+1 = img_step(state t, actions[t]); returns (H, N) states."""
        states, state = [], start
        for a in actions.unbind(0):
            state = self.img_step(state, a, sample)
            states.append(state)
        return _stack(states)

    def _check_action(self, action: torch.Tensor) -> None:
        if action.shape[-1] != self.action_dim:
            raise ValueError(f"action size must be {self.action_dim}, got {action.shape[-1]}")


def _stack(states: list[LatentState]) -> LatentState:
    return LatentState(
        torch.stack([s.deter for s in states]),
        torch.stack([s.stoch for s in states]),
        torch.stack([s.logits for s in states]),
    )
