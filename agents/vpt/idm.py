"""The VPT inverse dynamics model network (the reference's ``InverseActionPolicy``, spec sections 5.1 and 12).

Differences from the policy: after /255 a 3D conv (3 -> 128 channels, kernel 5x1x1 over time, zero time
padding 2, bias, ReLU, no norm: ``out[t] = sum_k w[k] * in[t + k - 2]``) mixes each frame with its +-2
neighbours; the ImpalaCNN reads those 128 channels and has a GroupNorm on every first conv; attention is
non-causal over the whole window (mask style "none", no cache, the position table is empty so the
position bias is 0); the heads are 20 independent binary button classifiers and 2 independent 11-way
camera-bin classifiers (units ``2*i + c`` and ``11*axis + bin``); there is no value head.

Reference quirk kept: the forward computes nothing with ``lastlayer`` (the reference computes it and
discards it): latent = ``final_ln(relu(transformer output))``. Its weights still exist in the state dict.
Network and forward only; training is elsewhere.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from agents.vpt.config import CRAFTER_N_ACTIONS, IDM_PRESETS, IDMConfig
from agents.vpt.heads import ActionHeads, DiscreteActionHead
from agents.vpt.layers import NORM_EPS, NormedLayer
from agents.vpt.policy import ImageEncoder, check_frames
from agents.vpt.pretrained import PretrainedMixin
from agents.vpt.transformer import RecurrentTransformer


class IDMNet(nn.Module):
    """The IDM body (``net.*`` keys).

    :param config: architecture.
    """

    def __init__(self, config: IDMConfig) -> None:
        super().__init__()
        self.config = config
        k = config.conv3d_kernel
        self.conv3d_layer = NormedLayer(
            3, config.conv3d_out, kind="conv3d", norm="none", kernel_size=(k, 1, 1), padding=(k // 2, 0, 0)
        )
        self.img_process = ImageEncoder(
            config.conv3d_out, config.img_size, config.cnn_chans, config.hidsize, first_conv_norm=True
        )
        self.recurrent_layer = RecurrentTransformer(
            config.hidsize,
            config.attention_heads,
            0,
            config.n_recurrence_layers,
            config.pointwise_ratio,
            mask_style="none",
        )
        self.lastlayer = NormedLayer(
            config.hidsize, config.hidsize, kind="linear", norm="layer"
        )  # unused, see module doc
        self.final_ln = nn.LayerNorm(config.hidsize, eps=NORM_EPS)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        b, t = obs.shape[:2]
        x = obs.permute(0, 4, 1, 2, 3).float() / 255.0  # (B, 3, T, S, S)
        x = torch.cat([self.conv3d_layer(x[i : i + 1]) for i in range(b)])  # per sample, like the reference
        # to (B*T, C, S, S) through a channels-last copy, the reference's memory layout (same values; the
        # layout decides which conv kernels run, hence the last bits)
        x = x.permute(0, 2, 3, 4, 1).reshape(b * t, *obs.shape[2:4], self.config.conv3d_out).permute(0, 3, 1, 2)
        x = self.img_process(x).reshape(b, t, -1)
        first = torch.zeros(b, t, dtype=torch.bool, device=obs.device)
        x, _ = self.recurrent_layer(x, first, self.recurrent_layer.initial_state(b, obs.device))
        return self.final_ln(F.relu(x))


class IDMNetwork(PretrainedMixin, nn.Module):
    """The 4x IDM (``net.*`` and ``pi_head.*`` keys); ``config.action_space == "crafter"`` gives the same body
    with one categorical head over Crafter's 17 actions.

    :param config: an :class:`IDMConfig` or a preset name (``"4x"``, ``"tiny"``).
    """

    def __init__(self, config: IDMConfig | str = "4x") -> None:
        super().__init__()
        if isinstance(config, str):
            if config not in IDM_PRESETS:
                raise ValueError(f"unknown IDM preset {config!r}; known: {sorted(IDM_PRESETS)}")
            config = IDM_PRESETS[config]
        self.config = config
        self.net = IDMNet(config)
        self.pi_head: ActionHeads | DiscreteActionHead
        if config.action_space == "crafter":  # one categorical over Crafter's 17 actions, same body
            self.pi_head = DiscreteActionHead(config.hidsize, CRAFTER_N_ACTIONS, config.temperature)
            return
        self.pi_head = ActionHeads(
            config.hidsize,
            n_buttons=2,
            n_camera=config.n_camera_bins,
            temperature=config.temperature,
            button_shape=(config.n_buttons,),
            camera_shape=(2,),
            sample_order=("buttons", "camera"),
        )

    def forward(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """:param obs: (B, T, S, S, 3) uint8 RGB window (T = ``timesteps`` for the released model).
        :return: ``{"buttons": (B, T, 20, 2), "camera": (B, T, 2, 11)}`` log-probs (``{"action": (B, T, 17)}``
            for a ``"crafter"`` config)."""
        check_frames(obs, self.config.img_size)
        return self.pi_head(self.net(obs))

    @torch.inference_mode()
    def predict(self, obs: torch.Tensor, deterministic: bool = True) -> dict[str, torch.Tensor]:
        """Factored actions ``{"buttons": (B, T, 20) 0/1, "camera": (B, T, 2) bins}`` (argmax by default)."""
        logp = self(obs)
        return self.pi_head.sample(logp, deterministic=deterministic)
