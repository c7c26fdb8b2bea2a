"""``VPTAgent``: run a VPT policy on a VPT-wrapped env, one call per step.

The VPT-wrapped env observes (128, 128, 3) uint8 RGB frames and acts in ``MultiDiscrete([8641, 121])``
(``[button_class, camera_class]``). The agent keeps the transformer's key/value cache between calls, so
each step costs one frame of compute, batched over any number of envs.

Example::

    >>> import numpy as np
    >>> from agents.vpt.agent import VPTAgent
    >>> agent = VPTAgent("tiny", seed=0)          # or VPTAgent.from_pretrained("foundation-model-1x")
    >>> action, state = agent.act(np.zeros((32, 32, 3), np.uint8))
    >>> action.shape, action.dtype
    ((2,), dtype('int64'))
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from agents.vpt.policy import PolicyOutput, VPTPolicyNet
from agents.vpt.precision import bfloat16_linears, pack_convs, pack_linears
from agents.vpt.transformer import TransformerState

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class VPTAgent:
    """Stateful VPT policy runner.

    :param policy: a :class:`VPTPolicyNet` or a preset name (random weights; use :meth:`from_pretrained`
        for released weights).
    :param device: torch device.
    :param dtype: ``"float32"`` (numerically the reference) or ``"bfloat16"``, on a private copy of the
        network: the transformer's linear layers and the action heads keep bfloat16 weights with float32
        inputs/outputs (:func:`~agents.vpt.precision.bfloat16_linears`); the residual stream, LayerNorms,
        attention softmax, log-softmax and value head stay float32, and so does the image encoder unless
        ``encoder_dtype="bfloat16"``. Faster on CPUs with AVX512-BF16/AMX; it changes the log-probs
        (figures in :mod:`agents.vpt.precision`, ``benchmarks/vpt_policy_speed.py``).
    :param channels_last: run the CNN in channels-last memory format.
    :param compile: ``torch.compile`` the image encoder (slow first call; needs a C++ compiler on CPU).
    :param fused_attention: use ``scaled_dot_product_attention`` (same maths, last-bit differences).
    :param pack_weights: inference-only fast path (implies ``fused_attention``): each attention layer's
        q/k/v/r projections become one GEMM with a frozen position table
        (:meth:`~agents.vpt.attention.MaskedSelfAttention.fuse_projections`), the masks are computed once
        per step for all layers, and the convolutions are prepacked by oneDNN with their ReLUs fused in
        (:func:`~agents.vpt.precision.pack_convs`), in float32 or in the encoder's dtype. With
        ``dtype="bfloat16"`` every linear layer outside a float32 image encoder, except the value head,
        also gets bfloat16 weights prepacked once by oneDNN (:func:`~agents.vpt.precision.pack_linears`).
        Attention runs in float32 on the q/k/v. The private copy of the network is then inference-only
        (its state dict has other keys; ``compile`` then compiles the conv stacks only). In float32
        (``VPTAgent(channels_last=True, pack_weights=True)``) the log-probs match float32 to ~3e-4 on a
        non-uniform 1x network; with bfloat16 see :mod:`agents.vpt.precision` (max |dlogp| 0.24 there).
        Channels-last is recommended with it (the benchmark's ``fp32-fast`` and ``fast`` modes).
    :param encoder_dtype: dtype of the image encoder (CNN, its dense layer and linear layer, norms and
        residual adds): ``"float32"`` (default, whatever ``dtype``) or ``"bfloat16"`` (fastest, and the
        largest error: max |dlogp| 1.18 vs 0.24 on the non-uniform 1x network).
    :param seed: seed of the sampling generator (None: torch's global RNG).
    """

    def __init__(
        self,
        policy: VPTPolicyNet | str = "1x",
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        channels_last: bool = False,
        fused_attention: bool = False,
        compile: bool = False,
        pack_weights: bool = False,
        encoder_dtype: str | torch.dtype = "float32",
        seed: int | None = None,
    ) -> None:
        self.policy = (VPTPolicyNet(policy) if isinstance(policy, str) else policy).to(device).eval()
        self.device = torch.device(device)
        dtype = self._check_dtype(dtype, "dtype")
        self.dtype = dtype
        encoder_dtype = self._check_dtype(encoder_dtype, "encoder_dtype")
        self.encoder_dtype = encoder_dtype
        reduced = dtype != torch.float32 or encoder_dtype != torch.float32
        if reduced or channels_last or fused_attention or compile or pack_weights:
            self.policy = copy.deepcopy(self.policy)  # never change the caller's network
        self.pack_weights = pack_weights
        net = self.policy.net
        encoder = net.img_process
        if encoder_dtype != torch.float32:
            encoder.to(encoder_dtype)
        if pack_weights:
            for block in net.recurrent_layer.blocks:
                block.r.fuse_projections()
            if dtype == torch.bfloat16:
                # a float32 encoder keeps float32 linear layers (its convolutions are still prepacked below)
                skip = [self.policy.value_head] + ([encoder] if encoder_dtype == torch.float32 else [])
                pack_linears(self.policy, skip=skip, bfloat16_outputs=[net.recurrent_layer])
            self.policy.requires_grad_(False)
        elif dtype == torch.bfloat16:
            bfloat16_linears([net.recurrent_layer, net.lastlayer, self.policy.pi_head])
        encoder.channels_last = channels_last
        if channels_last:
            # the conv weights too: else every call first copies each weight to channels-last
            encoder.to(memory_format=torch.channels_last)
        if pack_weights and not compile:  # (inductor lowers the convs itself)
            pack_convs(encoder)
        if compile and pack_weights:
            # inductor cannot lower a prepacked weight that is not a graph constant: compile the conv stacks only
            stacks = encoder.cnn.stacks
            for i, stack in enumerate(stacks):
                stacks[i] = torch.compile(stack, dynamic=False)
        elif compile:
            encoder.cnn = torch.compile(encoder.cnn, dynamic=False)
        if not pack_weights:
            net.recurrent_layer.set_fused_attention(fused_attention)
        self.generator = torch.Generator(self.device).manual_seed(seed) if seed is not None else None
        self.img_size = self.policy.config.img_size
        self._state: TransformerState | None = None

    @staticmethod
    def _check_dtype(dtype: str | torch.dtype, name: str) -> torch.dtype:
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(f"{name} must be one of {sorted(_DTYPES)}, got {dtype!r}")
            dtype = _DTYPES[dtype]
        if dtype not in _DTYPES.values():
            raise ValueError(f"{name} must be torch.float32 or torch.bfloat16, got {dtype}")
        return dtype

    @classmethod
    def from_pretrained(cls, name_or_path: str, cache_dir: str | None = None, **kwargs: Any) -> "VPTAgent":
        """An agent around :meth:`VPTPolicyNet.from_pretrained` (``kwargs`` go to :class:`VPTAgent`)."""
        return cls(VPTPolicyNet.from_pretrained(name_or_path, cache_dir=cache_dir), **kwargs)

    # ------------------------------------------------------------------------------------------ state
    def initial_state(self, batch: int = 1) -> TransformerState:
        """A fresh (empty) key/value cache for ``batch`` envs."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        return self.policy.initial_state(batch, self.device)

    def reset_state(self, batch: int | None = None) -> None:
        """Forget the internal state (the next :meth:`act` starts fresh, with ``batch`` envs if given)."""
        self._state = None if batch is None else self.initial_state(batch)

    # ------------------------------------------------------------------------------------------- acting
    def _frames(self, obs: Any) -> tuple[torch.Tensor, bool]:
        arr = obs if isinstance(obs, torch.Tensor) else np.asarray(obs)
        shape = tuple(arr.shape)
        frame = (self.img_size, self.img_size, 3)
        if shape == frame:
            single = True
        elif len(shape) == 4 and shape[1:] == frame:
            single = False
        else:
            raise ValueError(f"obs must have shape {frame} or (B, {', '.join(map(str, frame))}), got {shape}")
        if (arr.dtype != torch.uint8) if isinstance(arr, torch.Tensor) else (arr.dtype != np.uint8):
            raise ValueError(f"obs must be uint8 RGB frames, got dtype {arr.dtype}")
        t = torch.as_tensor(arr, device=self.device)
        t = t[None] if single else t
        return t[:, None], single  # (B, 1, S, S, 3)

    def evaluate(
        self, obs: Any, state: TransformerState | None = None, first: Any = None
    ) -> tuple[PolicyOutput, TransformerState]:
        """One step of the network: outputs (log-probs, normalised value, latent) and the new state.
        Uses and updates the internal state when ``state`` is None."""
        frames, _ = self._frames(obs)
        b = frames.shape[0]
        use_internal = state is None
        if use_internal:
            state = self._state if self._state is not None else self.initial_state(b)
        batch_of_state = state[0][0].shape[0]
        if batch_of_state != b:
            raise ValueError(
                f"state is for {batch_of_state} envs but obs has {b}; call reset_state({b}) or pass a state"
            )
        first_t = torch.zeros(b, 1, dtype=torch.bool, device=self.device)
        if first is not None:
            f = torch.as_tensor(np.asarray(first, dtype=bool).reshape(-1), device=self.device)
            if f.numel() != b:
                raise ValueError(f"first must have {b} entries (one per env), got {f.numel()}")
            first_t = f[:, None]
        with torch.inference_mode():
            out, new_state = self.policy(frames, first_t, state)
        if use_internal:
            self._state = new_state
        return out, new_state

    def act(
        self,
        obs: Any,
        state: TransformerState | None = None,
        deterministic: bool = False,
        first: Any = None,
        to_env: bool = False,
    ) -> tuple[Any, TransformerState]:
        """Choose actions for one step.

        :param obs: one frame (S, S, 3) or a batch (B, S, S, 3), uint8 RGB.
        :param state: key/value cache from the previous call; None uses (and updates) the agent's own.
        :param deterministic: argmax instead of Gumbel-max sampling.
        :param first: (B,) bool, True where the frame starts a new episode (masks that env's memory);
            with a vector env pass the previous step's ``terminated | truncated``.
        :param to_env: return the MineRL action dict (through ``vpt_gym.actions.agent_to_env``) instead
            of ``[button_class, camera_class]`` arrays.
        :return: ``(action, state)``; action is int64 (2,) for one frame or (B, 2).
        """
        _, single = self._frames(obs)
        out, state = self.evaluate(obs, state, first)
        sample = self.policy.pi_head.sample(
            {k: v[:, 0] for k, v in out.logp.items()}, deterministic=deterministic, generator=self.generator
        )
        action = torch.stack([sample["buttons"], sample["camera"]], dim=-1).cpu().numpy().astype(np.int64)
        if single:
            action = action[0]
        if to_env:
            from vpt_gym.actions import agent_to_env

            return agent_to_env(action), state
        return action, state
