"""Architecture configs of the VPT policy and IDM, their released presets, and the official kwargs.

The official ``.model`` files store the reference's constructor kwargs (``model.args.net.args``) and the
head options (``model.args.pi_head_opts``). :func:`PolicyConfig.from_official` / :func:`IDMConfig.from_official`
read them, refusing values this re-implementation does not model (e.g. LSTM recurrence), and
``to_official`` writes them back in the reference's spelling.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from agents.checkpoints import bounded_repr
from vpt_gym.number_checks import check_number

#: Kwargs whose value is fixed in every released VPT network; anything else is refused.
_FIXED_POLICY_KWARGS: dict[str, Any] = {
    "recurrence_type": "transformer",
    "diff_mlp_embedding": False,
    "only_img_input": True,
    "use_pointwise_layer": True,
    "pointwise_use_activation": False,
    "recurrence_is_residual": True,
    "impala_kwargs": {"post_pool_groups": 1},
    "init_norm_kwargs": {"batch_norm": False, "group_norm_groups": 1},
}


def _check_fixed(kwargs: dict[str, Any], what: str) -> None:
    for key, expected in _FIXED_POLICY_KWARGS.items():
        if key in kwargs and kwargs[key] != expected:
            raise ValueError(
                f"{what}: unsupported value {key}={bounded_repr(kwargs[key])}; this implementation models only {expected!r} "
                "(the value of every released VPT checkpoint)"
            )
    if kwargs.get("first_conv_norm", False) and "conv3d_params" not in kwargs:
        raise ValueError(f"{what}: unsupported first_conv_norm=True for a policy (released policies use False)")
    for key in ("img_statistics",):
        if kwargs.get(key) is not None:
            raise ValueError(f"{what}: unsupported {key}={bounded_repr(kwargs[key])} (released checkpoints use None)")


#: The action spaces a VPT network's heads can model (``PolicyConfig.action_space`` / ``IDMConfig.action_space``):
#: ``"minecraft"``: VPT's own heads (the policy's joint ``buttons`` 8641 x ``camera`` 121 categoricals, the IDM's
#: 20 binary buttons and 2 x 11 camera bins); ``"crafter"``: one categorical over Crafter's 17 actions
#: (:class:`agents.vpt.heads.DiscreteActionHead`) for both the policy and the IDM.
ACTION_SPACES: tuple[str, ...] = ("minecraft", "crafter")

#: Number of actions of the ``"crafter"`` head (Crafter's ``Discrete(17)``).
CRAFTER_N_ACTIONS = 17


def _check_action_space(action_space: str) -> None:
    if action_space not in ACTION_SPACES:
        raise ValueError(f"action_space must be one of {ACTION_SPACES}, got {bounded_repr(action_space)}")


def _check_official(config: Any) -> None:
    if config.action_space != "minecraft":
        raise ValueError(
            f"the official .model format only describes Minecraft heads; this config has "
            f"action_space={config.action_space!r} (save it with agents.vpt.io.save_pretrained instead)"
        )


def _require(kwargs: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if k not in kwargs]
    if missing:
        raise ValueError(f"{what}: missing required kwargs {missing}; got keys {bounded_repr(list(kwargs))}")



# Reference kwargs that every released VPT network (policies and IDM) has with the same value; the
# configs do not expose them because the architecture here implements exactly these choices.
_FIXED_OFFICIAL_NET_ARGS: dict[str, Any] = {
    "impala_kwargs": {"post_pool_groups": 1},
    "init_norm_kwargs": {"batch_norm": False, "group_norm_groups": 1},
    "only_img_input": True,
    "pointwise_use_activation": False,
    "recurrence_is_residual": True,
    "recurrence_type": "transformer",
    "use_pointwise_layer": True,
}

def _check_fields(config: Any) -> None:
    """Every size of a config is a positive integer, the temperature a positive finite number and the
    flags booleans: a tampered ``config.json`` (``attention_heads: 0``, ``hidsize: null``) is a clear
    ``ValueError`` here, not a ``ZeroDivisionError`` / ``TypeError`` while the network is built."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name == "action_space":
            if not isinstance(value, str):
                raise ValueError(f"action_space must be a string, got a {type(value).__name__}")
        elif field.name == "temperature":
            check_number("temperature", value, above=0)
        elif field.name == "impala_chans":
            if not isinstance(value, tuple) or len(value) != 3:
                raise ValueError(f"impala_chans must be 3 positive integers, got a {type(value).__name__}"
                                 + (f" of length {len(value)}" if isinstance(value, tuple) else ""))
            for c in value:
                check_number("impala_chans[i]", c, integer=True, minimum=1)
        elif field.name.startswith("use_"):
            if not isinstance(value, bool):
                raise ValueError(f"{field.name} must be true or false, got a {type(value).__name__}")
        else:
            check_number(field.name, value, integer=True, minimum=1)


def _wrong_types_are_value_errors(build: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the ``TypeError`` / ``KeyError`` / ``AttributeError`` / ``OverflowError`` that wrongly typed
    file data raises in ``build`` (``img_shape: 5``, ``hidsize: null``) into the ``ValueError`` the loaders
    report as a ``CheckpointError``."""

    @functools.wraps(build)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return build(*args, **kwargs)
        except (TypeError, KeyError, AttributeError, OverflowError, IndexError) as err:
            raise ValueError(f"wrongly typed or missing config entry ({type(err).__name__}: "
                             f"{str(err)[:200]})") from err

    return checked


@dataclass(frozen=True)
class PolicyConfig:
    """The VPT policy (``MinecraftAgentPolicy``) architecture.

    :param hidsize: transformer width H.
    :param impala_width: CNN width multiplier (channels ``impala_width * impala_chans``).
    :param attention_heads: heads per attention layer.
    :param n_recurrence_layers: transformer blocks.
    :param attention_memory_size: ``maxlen + timesteps`` (256); the cache keeps ``maxlen`` = 128 frames.
    :param timesteps: training chunk length (128).
    :param pointwise_ratio: MLP expansion.
    :param img_size: input frames are ``img_size x img_size x 3`` uint8 RGB.
    :param impala_chans: base CNN channels.
    :param temperature: action-logit temperature (``pi_head_opts.temperature``).
    :param use_pre_lstm_ln: LayerNorm before the transformer (False in every released model).
    :param n_buttons: button classes. :param n_camera: camera classes.
    :param action_space: ``"minecraft"`` (VPT's ``buttons``/``camera`` heads, the default of every released
        model) or ``"crafter"`` (one categorical over Crafter's 17 actions; ``n_buttons``/``n_camera`` unused).
    """

    hidsize: int = 1024
    impala_width: int = 4
    attention_heads: int = 8
    n_recurrence_layers: int = 4
    attention_memory_size: int = 256
    timesteps: int = 128
    pointwise_ratio: int = 4
    img_size: int = 128
    impala_chans: tuple[int, int, int] = (16, 32, 32)
    temperature: float = 2.0
    use_pre_lstm_ln: bool = False
    n_buttons: int = 8641
    n_camera: int = 121
    action_space: str = "minecraft"

    kind: ClassVar[str] = "vpt_policy"

    def __post_init__(self) -> None:
        _check_fields(self)
        _check_action_space(self.action_space)
        if self.hidsize % self.attention_heads:
            raise ValueError(f"hidsize {self.hidsize} must be divisible by attention_heads {self.attention_heads}")
        if self.maxlen <= 0:
            raise ValueError(
                f"attention_memory_size ({self.attention_memory_size}) must exceed timesteps ({self.timesteps})"
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    @property
    def maxlen(self) -> int:
        """Frames kept in each layer's key/value cache."""
        return self.attention_memory_size - self.timesteps

    @property
    def cnn_chans(self) -> tuple[int, ...]:
        return tuple(self.impala_width * c for c in self.impala_chans)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict incl. ``"kind"``."""
        d = dataclasses.asdict(self)
        d["impala_chans"] = list(self.impala_chans)
        return {"kind": self.kind, **d}

    @classmethod
    @_wrong_types_are_value_errors
    def from_dict(cls, d: dict[str, Any]) -> "PolicyConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        d = dict(d)
        kind = d.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ValueError(f"config kind is {bounded_repr(kind)}, expected {cls.kind!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {bounded_repr(unknown)}; known: {sorted(names)}")
        if "impala_chans" in d:
            d["impala_chans"] = tuple(d["impala_chans"])
        return cls(**d)

    @classmethod
    @_wrong_types_are_value_errors
    def from_official(cls, net_args: dict[str, Any], pi_head_opts: dict[str, Any] | None = None) -> "PolicyConfig":
        """From a ``.model`` file's ``model.args.net.args`` and ``model.args.pi_head_opts``."""
        what = "VPT policy kwargs"
        _require(net_args, ("hidsize", "impala_width", "attention_heads", "n_recurrence_layers", "img_shape"), what)
        _check_fixed(net_args, what)
        if net_args.get("attention_mask_style", "clipped_causal") != "clipped_causal":
            raise ValueError(
                f"{what}: attention_mask_style must be 'clipped_causal', got {bounded_repr(net_args['attention_mask_style'])}"
            )
        img = list(net_args["img_shape"])
        if len(img) != 3 or not all(type(v) is int for v in img) or img[0] != img[1] or img[2] != 3:
            raise ValueError(f"{what}: img_shape must be [S, S, 3], got {bounded_repr(img)}")
        temperature = float((pi_head_opts or {}).get("temperature", 1.0))
        return cls(
            hidsize=int(net_args["hidsize"]),
            impala_width=int(net_args["impala_width"]),
            attention_heads=int(net_args["attention_heads"]),
            n_recurrence_layers=int(net_args["n_recurrence_layers"]),
            attention_memory_size=int(net_args.get("attention_memory_size", 2048)),
            timesteps=int(net_args["timesteps"]),
            pointwise_ratio=int(net_args.get("pointwise_ratio", 4)),
            img_size=int(img[0]),
            impala_chans=tuple(int(c) for c in net_args.get("impala_chans", (16, 32, 32))),
            temperature=temperature,
            use_pre_lstm_ln=bool(net_args.get("use_pre_lstm_ln", True)),
        )

    def to_official(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(net_args, pi_head_opts)`` in the reference's spelling (as in ``agent.py``'s ``POLICY_KWARGS``)."""
        _check_official(self)
        net = dict(
            attention_heads=self.attention_heads,
            attention_mask_style="clipped_causal",
            attention_memory_size=self.attention_memory_size,
            diff_mlp_embedding=False,
            hidsize=self.hidsize,
            img_shape=[self.img_size, self.img_size, 3],
            impala_chans=list(self.impala_chans),
            impala_width=self.impala_width,
            n_recurrence_layers=self.n_recurrence_layers,
            pointwise_ratio=self.pointwise_ratio,
            timesteps=self.timesteps,
            **_FIXED_OFFICIAL_NET_ARGS,
            use_pre_lstm_ln=self.use_pre_lstm_ln,
        )
        return net, {"temperature": self.temperature}


@dataclass(frozen=True)
class IDMConfig:
    """The inverse dynamics model (``InverseActionPolicy``, spec section 5.1).

    :param hidsize: transformer width (4096 in the 4x IDM).
    :param impala_width: CNN width multiplier (16).
    :param attention_heads: heads (32).
    :param n_recurrence_layers: blocks (2).
    :param timesteps: window length (128); ``attention_memory_size == timesteps`` so there is no cache.
    :param conv3d_out: channels of the 3D conv front (128) = the CNN's input channels.
    :param conv3d_kernel: temporal kernel of the 3D conv (5, padding 2).
    :param temperature: head temperature.
    :param action_space: ``"minecraft"`` (20 binary buttons and 2 x 11 camera bins, the released IDM) or
        ``"crafter"`` (one categorical over Crafter's 17 actions; ``n_buttons``/``n_camera_bins`` unused).
    """

    hidsize: int = 4096
    impala_width: int = 16
    attention_heads: int = 32
    n_recurrence_layers: int = 2
    timesteps: int = 128
    pointwise_ratio: int = 4
    img_size: int = 128
    impala_chans: tuple[int, int, int] = (16, 32, 32)
    conv3d_out: int = 128
    conv3d_kernel: int = 5
    temperature: float = 1.0
    n_buttons: int = 20
    n_camera_bins: int = 11
    action_space: str = "minecraft"

    kind: ClassVar[str] = "vpt_idm"

    def __post_init__(self) -> None:
        _check_fields(self)
        _check_action_space(self.action_space)
        if self.hidsize % self.attention_heads:
            raise ValueError(f"hidsize {self.hidsize} must be divisible by attention_heads {self.attention_heads}")
        if self.conv3d_kernel % 2 != 1:
            raise ValueError(f"conv3d_kernel must be odd, got {self.conv3d_kernel}")

    @property
    def cnn_chans(self) -> tuple[int, ...]:
        return tuple(self.impala_width * c for c in self.impala_chans)

    to_dict = PolicyConfig.to_dict
    from_dict = classmethod(PolicyConfig.from_dict.__func__)  # type: ignore[attr-defined]

    @classmethod
    @_wrong_types_are_value_errors
    def from_official(cls, net_args: dict[str, Any], pi_head_opts: dict[str, Any] | None = None) -> "IDMConfig":
        """From the IDM ``.model``'s ``model.args.net.args`` and ``pi_head_opts``."""
        what = "VPT IDM kwargs"
        _require(net_args, ("hidsize", "impala_width", "attention_heads", "n_recurrence_layers", "conv3d_params"), what)
        _check_fixed(net_args, what)
        if net_args.get("attention_mask_style") != "none":
            raise ValueError(
                f"{what}: attention_mask_style must be 'none', got {bounded_repr(net_args.get('attention_mask_style'))}"
            )
        mem, steps = int(net_args.get("attention_memory_size", 128)), int(net_args.get("timesteps", 128))
        if mem != steps:
            raise ValueError(f"{what}: attention_memory_size ({mem}) must equal timesteps ({steps}) (no cache)")
        c3 = dict(net_args["conv3d_params"])
        kernel = tuple(c3.get("kernel_size", (5, 1, 1)))
        if kernel[1:] != (1, 1) or tuple(c3.get("padding", ())) != (kernel[0] // 2, 0, 0) or c3.get("inchan", 3) != 3:
            raise ValueError(
                f"{what}: unsupported conv3d_params {bounded_repr(c3)}; expected inchan 3, kernel (k,1,1), padding (k//2,0,0)"
            )
        img = list(net_args.get("img_shape", [128, 128, c3["outchan"]]))
        if len(img) != 3 or not all(type(v) is int for v in (*img, c3["outchan"])) or img[2] != c3["outchan"]:
            raise ValueError(
                f"{what}: img_shape {bounded_repr(img)} must be 3 integers, the last equal to conv3d outchan "
                f"{bounded_repr(c3['outchan'])}"
            )
        return cls(
            hidsize=int(net_args["hidsize"]),
            impala_width=int(net_args["impala_width"]),
            attention_heads=int(net_args["attention_heads"]),
            n_recurrence_layers=int(net_args["n_recurrence_layers"]),
            timesteps=steps,
            pointwise_ratio=int(net_args.get("pointwise_ratio", 4)),
            img_size=int(img[0]),
            impala_chans=tuple(int(c) for c in net_args.get("impala_chans", (16, 32, 32))),
            conv3d_out=int(c3["outchan"]),
            conv3d_kernel=int(kernel[0]),
            temperature=float((pi_head_opts or {}).get("temperature", 1.0)),
        )

    def to_official(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(net_args, pi_head_opts)`` in the reference's spelling."""
        _check_official(self)
        k = self.conv3d_kernel
        net = dict(
            attention_heads=self.attention_heads,
            attention_mask_style="none",
            attention_memory_size=self.timesteps,
            conv3d_params={
                "inchan": 3,
                "outchan": self.conv3d_out,
                "kernel_size": [k, 1, 1],
                "padding": [k // 2, 0, 0],
            },
            hidsize=self.hidsize,
            img_shape=[self.img_size, self.img_size, self.conv3d_out],
            impala_chans=list(self.impala_chans),
            impala_width=self.impala_width,
            n_recurrence_layers=self.n_recurrence_layers,
            pointwise_ratio=self.pointwise_ratio,
            timesteps=self.timesteps,
            **_FIXED_OFFICIAL_NET_ARGS,
            use_pre_lstm_ln=False,
        )
        return net, {"temperature": self.temperature}


#: Released policy sizes (spec 3.2). The 3x head count (24, head dim 128 like the others) is UNVERIFIED:
#: always prefer the kwargs read from the official ``.model`` file.
POLICY_PRESETS: dict[str, PolicyConfig] = {
    "1x": PolicyConfig(hidsize=1024, impala_width=4, attention_heads=8),
    "2x": PolicyConfig(hidsize=2048, impala_width=8, attention_heads=16),
    "3x": PolicyConfig(hidsize=3072, impala_width=12, attention_heads=24),
    # a small network with every architectural feature, for tests and examples
    "tiny": PolicyConfig(
        hidsize=64,
        impala_width=1,
        attention_heads=4,
        n_recurrence_layers=2,
        attention_memory_size=16,
        timesteps=8,
        img_size=32,
        impala_chans=(4, 8, 8),
    ),
}

IDM_PRESETS: dict[str, IDMConfig] = {
    "4x": IDMConfig(),
    "tiny": IDMConfig(
        hidsize=64,
        impala_width=1,
        attention_heads=4,
        n_recurrence_layers=2,
        timesteps=8,
        img_size=32,
        impala_chans=(4, 8, 8),
        conv3d_out=6,
        temperature=1.0,
    ),
}


#: Small networks for Crafter's 64x64 frames and 17 actions (``python -m benchmarks.vpt_crafter``): every
#: architectural feature of VPT, sized for a 2-core CPU. Not in the preset tables (whose entries all have
#: an official ``.model`` form); pass them as configs (``VPTPolicyNet(CRAFTER_POLICY)``, or
#: ``CRAFTER_POLICY.to_dict()`` as a training run's ``policy`` / ``model``).
CRAFTER_POLICY = PolicyConfig(
    hidsize=128,
    impala_width=1,
    attention_heads=4,
    n_recurrence_layers=2,
    attention_memory_size=48,
    timesteps=16,
    img_size=64,
    impala_chans=(8, 16, 16),
    temperature=1.0,
    action_space="crafter",
)
CRAFTER_IDM = IDMConfig(
    hidsize=128,
    impala_width=1,
    attention_heads=4,
    n_recurrence_layers=2,
    timesteps=32,
    img_size=64,
    impala_chans=(8, 16, 16),
    conv3d_out=16,
    temperature=1.0,
    action_space="crafter",
)
