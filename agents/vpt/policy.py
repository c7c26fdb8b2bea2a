"""The VPT policy network (the reference's ``MinecraftAgentPolicy``, spec section 3).

``VPTPolicyNet`` has the reference's state-dict key names (``net.*``, ``value_head.*``, ``pi_head.*``),
so the official ``.weights`` load strictly. Per frame: uint8 RGB (B, T, S, S, 3) -> /255 -> ImpalaCNN ->
``img_process.linear`` (LayerNorm -> Linear(256, H) -> ReLU) -> transformer -> ReLU -> ``lastlayer``
(LayerNorm -> Linear(H, H) -> ReLU) -> ``final_ln`` -> action heads and value head.

Inference is incremental: :meth:`VPTPolicyNet.forward` takes any chunk length ``T`` plus the key/value
cache of the previous call, so stepping one frame at a time costs one frame of compute and gives the
same outputs as one call over the whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from agents.vpt.config import CRAFTER_N_ACTIONS, POLICY_PRESETS, PolicyConfig
from agents.vpt.heads import ActionHeads, DiscreteActionHead, ValueHead
from agents.vpt.impala import ImpalaCNN
from agents.vpt.layers import NORM_EPS, NormedLayer
from agents.vpt.pretrained import PretrainedMixin
from agents.vpt.transformer import RecurrentTransformer, TransformerState

#: Width of the CNN's dense output (``cnn_outsize``).
CNN_OUTSIZE = 256


def check_frames(obs: torch.Tensor, img_size: int, channels: int = 3) -> None:
    """Raise a clear error unless ``obs`` is (B, T, S, S, C) uint8."""
    expected = (img_size, img_size, channels)
    if obs.dim() != 5 or tuple(obs.shape[2:]) != expected:
        raise ValueError(f"frames must have shape (B, T, {img_size}, {img_size}, {channels}), got {tuple(obs.shape)}")
    if obs.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 RGB in [0, 255], got dtype {obs.dtype}")


class ImageEncoder(nn.Module):
    """``ImpalaCNN`` (``cnn``) and the linear layer to the model width (``linear``): the reference's ``ImgObsProcess``.

    :param in_channels: input channels. :param img_size: frame size. :param chans: CNN channels.
    :param hidsize: output width. :param first_conv_norm: GroupNorm on the first conv.
    """

    def __init__(
        self, in_channels: int, img_size: int, chans: tuple[int, ...], hidsize: int, first_conv_norm: bool
    ) -> None:
        super().__init__()
        self.cnn = ImpalaCNN(in_channels, img_size, chans, CNN_OUTSIZE, first_conv_norm=first_conv_norm)
        self.linear = NormedLayer(CNN_OUTSIZE, hidsize, kind="linear", norm="layer")
        self.channels_last = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) float32 in [0, 1] -> (N, H) float32 (computed in the weights' dtype: float32, or
        bfloat16 in the agent's fast mode)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        # the norms' dtype is the encoder's (``encoder.to(dtype)``); linear layers may hold bfloat16 weights
        # behind a float32 interface (agents.vpt.precision)
        x = x.to(self.cnn.dense.norm.weight.dtype)
        return self.linear(self.cnn(x).to(self.linear.norm.weight.dtype)).float()


class VPTNet(nn.Module):
    """The body (``net.*`` keys): frames -> latent shared by the policy and value heads.

    :param config: architecture.
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        self.img_process = ImageEncoder(3, config.img_size, config.cnn_chans, config.hidsize, first_conv_norm=False)
        self.pre_lstm_ln = nn.LayerNorm(config.hidsize, eps=NORM_EPS) if config.use_pre_lstm_ln else None
        self.recurrent_layer = RecurrentTransformer(
            config.hidsize, config.attention_heads, config.maxlen, config.n_recurrence_layers, config.pointwise_ratio
        )
        self.lastlayer = NormedLayer(config.hidsize, config.hidsize, kind="linear", norm="layer")
        self.final_ln = nn.LayerNorm(config.hidsize, eps=NORM_EPS)

    def forward(
        self, obs: torch.Tensor, first: torch.Tensor, state: TransformerState
    ) -> tuple[torch.Tensor, TransformerState]:
        b, t = obs.shape[:2]
        x = obs.reshape(b * t, *obs.shape[2:]).permute(0, 3, 1, 2).float() / 255.0
        x = self.img_process(x).reshape(b, t, -1)
        if self.pre_lstm_ln is not None:
            x = self.pre_lstm_ln(x)
        x, state = self.recurrent_layer(x, first, state)
        x = self.final_ln(self.lastlayer(F.relu(x)))
        return x, state


def make_policy_head(config: PolicyConfig) -> ActionHeads | DiscreteActionHead:
    """The policy's action head for ``config.action_space``: VPT's ``buttons``/``camera`` heads or one
    categorical over Crafter's 17 actions (the body is the same for both)."""
    if config.action_space == "crafter":
        return DiscreteActionHead(config.hidsize, CRAFTER_N_ACTIONS, config.temperature)
    return ActionHeads(config.hidsize, config.n_buttons, config.n_camera, config.temperature)


@dataclass
class PolicyOutput:
    """What one forward pass returns.

    :param logp: ``{"buttons": (B, T, 8641), "camera": (B, T, 121)}`` temperature-scaled log-probs (float32);
        ``{"action": (B, T, 17)}`` for a ``"crafter"`` config.
    :param vpred: (B, T) normalised value prediction (see :meth:`VPTPolicyNet.value`).
    :param latent: (B, T, H) final latent.
    """

    logp: dict[str, torch.Tensor]
    vpred: torch.Tensor
    latent: torch.Tensor


class VPTPolicyNet(PretrainedMixin, nn.Module):
    """The full VPT policy: ``net``, ``pi_head`` and ``value_head`` with the official key names.

    :param config: a :class:`PolicyConfig` or a preset name (``"1x"``, ``"2x"``, ``"3x"``, ``"tiny"``).

    Example::

        >>> import torch
        >>> from agents.vpt.policy import VPTPolicyNet
        >>> net = VPTPolicyNet("tiny")
        >>> state = net.initial_state(2)
        >>> frames = torch.zeros(2, 1, 32, 32, 3, dtype=torch.uint8)
        >>> out, state = net(frames, torch.zeros(2, 1, dtype=torch.bool), state)
        >>> out.logp["buttons"].shape
        torch.Size([2, 1, 8641])
    """

    def __init__(self, config: PolicyConfig | str = "1x") -> None:
        super().__init__()
        if isinstance(config, str):
            if config not in POLICY_PRESETS:
                raise ValueError(f"unknown VPT policy preset {config!r}; known: {sorted(POLICY_PRESETS)}")
            config = POLICY_PRESETS[config]
        self.config = config
        self.net = VPTNet(config)
        self.value_head = ValueHead(config.hidsize)
        self.pi_head = make_policy_head(config)

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> TransformerState:
        """Empty key/value caches for ``batch`` sequences (on the model's device by default)."""
        if device is None:
            device = self.net.final_ln.weight.device
        return self.net.recurrent_layer.initial_state(batch, device)

    def forward(
        self, obs: torch.Tensor, first: torch.Tensor | None = None, state: TransformerState | None = None
    ) -> tuple[PolicyOutput, TransformerState]:
        """:param obs: (B, T, S, S, 3) uint8 RGB frames.
        :param first: (B, T) bool episode starts (default: all False).
        :param state: key/value caches from the previous call (default: empty).
        :return: the outputs and the new state."""
        check_frames(obs, self.config.img_size)
        b, t = obs.shape[:2]
        if first is None:
            first = torch.zeros(b, t, dtype=torch.bool, device=obs.device)
        if tuple(first.shape) != (b, t):
            raise ValueError(f"first must have shape {(b, t)}, got {tuple(first.shape)}")
        if state is None:
            state = self.initial_state(b, obs.device)
        latent, state = self.net(obs, first.bool(), state)
        logp = self.pi_head(latent)
        vpred = self.value_head(latent)[..., 0]
        return PolicyOutput(logp=logp, vpred=vpred, latent=latent), state

    def value(self, vpred: torch.Tensor) -> torch.Tensor:
        """Denormalised value (the statistics are only read here, never updated)."""
        return self.value_head.denormalize(vpred)
