"""VPT's action space: the one implementation of the env-dict <-> agent-action mapping.

VPT (Baker et al. 2022) acts in MineRL 1.0's keyboard-and-mouse space (a dict of 23 binary keys and a
continuous ``camera``) through two integer heads:

* the *button class* (8641 values): the Cartesian product of 9 mutually exclusive button groups
  (hotbar, forward/back, left/right, sprint/sneak, use, drop, attack, jump, camera on/off) plus one extra
  class, ``8640``, meaning "inventory" (all other buttons dropped);
* the *camera class* (121 values): 11 mu-law bins for pitch times 11 bins for yaw,
  ``11 * pitch_bin + yaw_bin``; ``60`` is "no camera movement".

Everything here is numpy, vectorised over a batch with precomputed lookup tables (no Python loop per key
or per batch row in the mapping itself), and matches the reference code (``openai/Video-Pre-Training``,
``lib/actions.py`` and ``lib/action_mapping.py``) bit for bit; see the notes on :class:`CameraQuantizer`
and :class:`CameraHierarchicalMapping` for the details that matter.

Example::

    >>> import numpy as np
    >>> from vpt_gym.actions import agent_to_env, env_to_agent
    >>> env_to_agent({"forward": 1, "attack": 1, "camera": np.array([0.0, 5.0], np.float32)})
    array([293,  64])
    >>> env_action = agent_to_env([293, 64])
    >>> int(env_action["forward"]), int(env_action["attack"]), env_action["camera"].round(4).tolist()
    (1, 1, [0.0, 5.8095])
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = [
    "BUTTONS",
    "IGNORED_KEYS",
    "MINERL_BINARY_KEYS",
    "MINERL_ACTION_KEYS",
    "BUTTON_GROUPS",
    "N_BUTTON_CLASSES",
    "N_CAMERA_CLASSES",
    "NULL_BUTTON_CLASS",
    "NULL_CAMERA_CLASS",
    "INVENTORY_CLASS",
    "CameraQuantizer",
    "CameraHierarchicalMapping",
    "ActionMapping",
    "env_to_agent",
    "agent_to_env",
    "is_null_env_action",
    "minerl_action_space",
    "agent_action_space",
]

# ---------------------------------------------------------------------------------------------------
# Names and sizes
# ---------------------------------------------------------------------------------------------------

#: VPT's factored buttons (the reference's ``Buttons.ALL``), in order; index = position.
BUTTONS: tuple[str, ...] = (
    "attack", "back", "forward", "jump", "left", "right", "sneak", "sprint", "use", "drop", "inventory",
    *(f"hotbar.{i}" for i in range(1, 10)),
)  # fmt: skip

#: MineRL 1.0 binary keys that VPT never predicts: accepted in env actions and ignored; filled with 0.
IGNORED_KEYS: tuple[str, ...] = ("ESC", "pickItem", "swapHands")

#: The 23 binary (``Discrete(2)``) keys of MineRL 1.0's action dict, in the order of its (sorted) space.
MINERL_BINARY_KEYS: tuple[str, ...] = tuple(sorted(BUTTONS + IGNORED_KEYS))

#: All 24 keys of MineRL 1.0's action dict (the binary keys, then ``camera``).
MINERL_ACTION_KEYS: tuple[str, ...] = MINERL_BINARY_KEYS + ("camera",)

#: The mutually exclusive button groups of the joint space, in the reference's order; the first option
#: of every group is "none". The camera on/off group is the last (fastest varying) digit.
BUTTON_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hotbar", ("none", *(f"hotbar.{i}" for i in range(1, 10)))),
    ("fore_back", ("none", "forward", "back")),
    ("left_right", ("none", "left", "right")),
    ("sprint_sneak", ("none", "sprint", "sneak")),
    ("use", ("none", "use")),
    ("drop", ("none", "drop")),
    ("attack", ("none", "attack")),
    ("jump", ("none", "jump")),
    ("camera", ("none", "camera")),
)

N_BUTTON_CLASSES = 8641  # 10*3*3*3*2*2*2*2*2 = 8640 combinations + "inventory"
N_CAMERA_CLASSES = 121  # 11 pitch bins x 11 yaw bins
NULL_BUTTON_CLASS = 0  # every group "none"
NULL_CAMERA_CLASS = 60  # 11 * 5 + 5: both axes in the zero bin
INVENTORY_CLASS = 8640



def minerl_action_space() -> spaces.Dict:
    """MineRL 1.0's action space (VPT's ``TARGET_ACTION_SPACE``) as a gymnasium ``Dict``.

    23 ``Discrete(2)`` keys and ``camera = Box(-180, 180, (2,), float32)`` ([pitch, yaw] in degrees).
    """
    return spaces.Dict(
        {
            **{key: spaces.Discrete(2) for key in MINERL_BINARY_KEYS},
            "camera": spaces.Box(low=-180.0, high=180.0, shape=(2,), dtype=np.float32),
        }
    )


def agent_action_space() -> spaces.MultiDiscrete:
    """VPT's agent action space: ``MultiDiscrete([8641, 121])`` = [button class, camera class]."""
    return spaces.MultiDiscrete([N_BUTTON_CLASSES, N_CAMERA_CLASSES])


_BUTTON_INDEX: dict[str, int] = {name: i for i, name in enumerate(BUTTONS)}
_INVENTORY = _BUTTON_INDEX["inventory"]
_HOTBAR_COLUMNS = np.arange(_BUTTON_INDEX["hotbar.1"], _BUTTON_INDEX["hotbar.9"] + 1)
# every other factored button (inventory included) goes into the "rest" bit mask
_REST_COLUMNS = np.array([i for i in range(len(BUTTONS)) if i not in set(_HOTBAR_COLUMNS.tolist())])


# ---------------------------------------------------------------------------------------------------
# Small validation helpers
# ---------------------------------------------------------------------------------------------------


def _short(value: Any) -> str:
    """A one-line, length-limited repr of ``value`` for error messages."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=12, edgeitems=3, separator=", ")
        text = f"array({text}, dtype={value.dtype})"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _integer_array(value: Any, what: str, expected: str) -> np.ndarray:
    """``value`` as an integer ndarray; a ``ValueError`` naming ``what`` for any other dtype (bool too)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integers ({expected}); got dtype {array.dtype}: {_short(value)}")
    return array


def _check_range(array: np.ndarray, high: int, what: str, expected: str) -> None:
    """Raise a ``ValueError`` naming the offending values if any entry is outside ``[0, high)``."""
    if array.size and (array.min() < 0 or array.max() >= high):
        bad = array[(array < 0) | (array >= high)]
        raise ValueError(f"{what} out of range: {_short(bad)}; expected integers in [0, {high}) ({expected})")


# ---------------------------------------------------------------------------------------------------
# Camera quantisation
# ---------------------------------------------------------------------------------------------------


class CameraQuantizer:
    """Quantise camera angles (degrees) into bins and back, per component.

    VPT uses the mu-law scheme with ``maxval=10, binsize=2, mu=10``: 11 bins per axis, bin 5 = no motion,
    bin centres -10, -5.809483, -3.215369, -1.609499, -0.615394, 0, +0.615394, ... +10 degrees.
    Angles are clipped to ``[-maxval, maxval]`` first: this clipping is VPT's design (the policy can turn
    at most 10 degrees per step), not a silent fix-up.

    Precision notes (what makes it match the reference bit for bit):

    * ``discretize`` follows the reference's operations on NumPy 2: the clip, ``x / maxval`` and
      ``log(1 + mu * |x|)`` run in the input's float dtype (float32 for a camera taken from MineRL's
      float32 ``Box``), then the division by ``log(1 + mu)`` (a float64 scalar) promotes the rest to
      float64. A pure-float32 or pure-float64 pipeline puts values near bin edges into different bins
      (0.27098162 is bin 6 as float64 and bin 5 as float32). The dtype steps are written out explicitly,
      so the result does not depend on the installed NumPy's promotion rules (on NumPy 1.x the reference
      itself would stay in float32 throughout). Integer inputs are quantised as float64. Rounding is
      ``np.round`` (half to even).
    * ``undiscretize`` evaluates ``u = (binsize*bin - maxval) / maxval``,
      ``x = sign(u) * (1/mu) * ((1 + mu)**|u| - 1) * maxval`` in this order, in float64.
    * The linear scheme is ``round((clip(x) + maxval) / binsize)`` and ``binsize*bin - maxval``; unlike
      the reference (which returns int64 there) ``undiscretize`` always returns float64.

    :param maxval: largest camera angle (degrees) represented; larger angles are clipped to it.
    :param binsize: (average) bin width in degrees; ``maxval / binsize`` must be a positive integer.
    :param mu: curvature of the mu-law companding (only used by ``scheme="mu_law"``).
    :param scheme: ``"mu_law"`` (VPT) or ``"linear"``.

    Example::

        >>> import numpy as np
        >>> q = CameraQuantizer()
        >>> q.discretize(np.array([0.0, 3.0, 10.0, -0.75])).tolist()
        [5, 8, 10, 4]
        >>> q.undiscretize(np.array([6, 10])).round(6).tolist()
        [0.615394, 10.0]
    """

    SCHEMES = ("mu_law", "linear")

    def __init__(
        self, maxval: float = 10, binsize: float = 2, mu: float = 10, scheme: str = "mu_law"
    ) -> None:
        if scheme not in self.SCHEMES:
            raise ValueError(f"unknown camera quantization scheme {scheme!r}; expected one of {self.SCHEMES}")
        for name, value in (("maxval", maxval), ("binsize", binsize), ("mu", mu)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"CameraQuantizer {name} must be a real number; got {value!r}")
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"CameraQuantizer {name} must be finite and > 0; got {value!r}")
        half = maxval / binsize
        if half != int(half):
            raise ValueError(
                f"CameraQuantizer needs maxval / binsize to be an integer (an odd number of bins with an "
                f"exact zero bin); got maxval={maxval!r}, binsize={binsize!r}"
            )
        # Plain Python numbers: NumPy treats them as "weak" scalars, so they do not change array dtypes.
        self.maxval = float(maxval)
        self.binsize = float(binsize)
        self.mu = float(mu)
        self.scheme = scheme
        self._n_bins = 2 * int(half) + 1
        self._zero_bin = int(half)
        self._log_one_plus_mu = np.float64(np.log(1.0 + self.mu))  # a float64 scalar, like the reference

    @property
    def n_bins(self) -> int:
        """Number of bins per camera component (11 for VPT)."""
        return self._n_bins

    @property
    def zero_bin(self) -> int:
        """The bin meaning "no camera movement" (5 for VPT)."""
        return self._zero_bin

    def __repr__(self) -> str:
        return (
            f"CameraQuantizer(maxval={self.maxval:g}, binsize={self.binsize:g}, mu={self.mu:g}, "
            f"scheme={self.scheme!r})"
        )

    def discretize(self, x: Any) -> np.ndarray:
        """Camera angles (degrees, any shape) -> int64 bin indices of the same shape.

        :param x: angles; float arrays are quantised in their own dtype (see the class notes).
        :raises ValueError: on a NaN/infinite angle or a non-numeric input.
        """
        x = np.asarray(x)
        if x.dtype.kind in "biu":
            x = x.astype(np.float64)
        elif x.dtype.kind != "f":
            raise ValueError(f"camera angles must be real numbers; got dtype {x.dtype}: {_short(x)}")
        if not np.isfinite(x).all():
            raise ValueError(f"camera angles must be finite; got {_short(x)}")
        x = np.clip(x, -self.maxval, self.maxval)  # stays in x's dtype (weak Python scalars)
        if self.scheme == "mu_law":
            unit = x / self.maxval  # input dtype
            compressed = np.log(1.0 + self.mu * np.abs(unit))  # input dtype
            # Dividing by the float64 scalar log(1 + mu) is where the reference (NumPy 2) leaves float32.
            x = np.sign(unit).astype(np.float64) * (compressed.astype(np.float64) / self._log_one_plus_mu)
            x = x * self.maxval
        return np.round((x + self.maxval) / self.binsize).astype(np.int64)

    def undiscretize(self, bins: Any) -> np.ndarray:
        """Bin indices (any shape) -> float64 camera angles (degrees) at the bin centres.

        :param bins: integer bin indices in ``[0, n_bins)``.
        :raises ValueError: on non-integer or out-of-range bins.
        """
        expected = f"camera bins of a {self.n_bins}-bin quantizer"
        bins = _integer_array(bins, "camera bins", expected)
        _check_range(bins, self.n_bins, "camera bins", expected)
        x = bins.astype(np.float64) * self.binsize - self.maxval
        if self.scheme == "mu_law":
            unit = x / self.maxval
            x = np.sign(unit) * (1.0 / self.mu) * ((1.0 + self.mu) ** np.abs(unit) - 1.0)
            x = x * self.maxval
        return x


# ---------------------------------------------------------------------------------------------------
# Joint (hierarchical) button/camera classes
# ---------------------------------------------------------------------------------------------------


def _group_strides() -> dict[str, int]:
    """Mixed-radix stride of each group (the last group varies fastest)."""
    strides, stride = {}, 1
    for name, options in reversed(BUTTON_GROUPS):
        strides[name] = stride
        stride *= len(options)
    assert stride == INVENTORY_CLASS
    return strides


_STRIDES = _group_strides()


def _encoding_table(columns: np.ndarray) -> np.ndarray:
    """Joint-class contribution of every bit mask over the factored ``columns`` (camera group excluded).

    Group rules (the reference's ``factored_buttons_to_groups``): forward+back together and left+right
    together mean "none"; otherwise, when several buttons of one group are pressed, the one later in the
    group's option list wins (sprint+sneak -> sneak, hotbar.1+hotbar.2 -> hotbar.2). A mask containing
    ``inventory`` maps to ``INVENTORY_CLASS`` (everything else is dropped).
    """
    masks = np.arange(2 ** len(columns))
    pressed = {
        BUTTONS[column]: (masks >> bit) & 1 == 1 for bit, column in enumerate(columns.tolist())
    }
    table = np.zeros(len(masks), dtype=np.int64)
    for name, options in BUTTON_GROUPS:
        members = [option for option in options[1:] if option in pressed]
        if not members:
            continue
        choice = np.zeros(len(masks), dtype=np.int64)
        for option in members:  # later options overwrite earlier ones: "later in the group wins"
            choice[pressed[option]] = options.index(option)
        if len(members) == 2 and set(members) in ({"forward", "back"}, {"left", "right"}):
            choice[pressed[members[0]] & pressed[members[1]]] = 0
        table += choice * _STRIDES[name]
    if "inventory" in pressed:
        table[pressed["inventory"]] = INVENTORY_CLASS
    return table


def _decoding_tables() -> tuple[np.ndarray, np.ndarray]:
    """Factored buttons (8641, 20) and the camera-used flag (8641,) of every joint button class."""
    classes = np.arange(INVENTORY_CLASS)
    buttons = np.zeros((N_BUTTON_CLASSES, len(BUTTONS)), dtype=np.int64)
    camera_used = np.ones(N_BUTTON_CLASSES, dtype=bool)
    for name, options in BUTTON_GROUPS:
        digit = (classes // _STRIDES[name]) % len(options)
        if name == "camera":
            camera_used[:INVENTORY_CLASS] = digit == 1
            continue
        for option_index, option in enumerate(options[1:], start=1):
            buttons[classes[digit == option_index], _BUTTON_INDEX[option]] = 1
    buttons[INVENTORY_CLASS, _INVENTORY] = 1
    # camera_used[INVENTORY_CLASS] stays True: the reference does not flag "inventory" camera-off.
    return buttons, camera_used


class CameraHierarchicalMapping:
    """Factored actions (20 buttons, 2 camera bins) <-> joint classes (button class, camera class).

    Encoding (``from_factored``) applies the group rules (see :data:`BUTTON_GROUPS`): forward+back and
    left+right cancel, otherwise the later button of a group wins; the camera meta action is "on" unless
    both camera bins are the zero bin; a pressed ``inventory`` gives button class 8640 and camera class 60
    whatever else is pressed. Decoding (``to_factored``) looks both classes up in precomputed tables and
    replaces the camera bins by the zero bin when the button class's camera meta action is off.

    The inventory class, exactly as in the reference: class 8640 is *not* flagged camera-off, so decoding
    ``(8640, c)`` yields ``inventory = 1`` *and* the camera bins of ``c`` (``(8640, 0)`` decodes to bins
    (0, 0), i.e. camera [-10, -10]). This is kept for bit-exactness with the reference's
    ``to_factored``. It does not break round trips: encoding forces camera class 60 whenever inventory is
    pressed, so agent -> factored -> agent is the identity on every *canonical* pair and maps any other
    pair to its canonical form (see :meth:`canonical`). Canonical pairs are: ``(b, 60)`` for a camera-off
    class ``b`` (even ``b < 8640``), ``(b, c)`` with ``c != 60`` for a camera-on class (odd ``b < 8640``),
    and ``(8640, 60)``.

    Unlike the reference, ``from_factored`` returns arrays shaped like the batch (``(B,)``, not
    ``(B, 1)``) and accepts any leading batch shape.

    :param n_camera_bins: bins per camera axis (odd; 11 for VPT).

    Example::

        >>> import numpy as np
        >>> m = CameraHierarchicalMapping()
        >>> buttons = np.zeros((1, 20), dtype=np.int64); buttons[0, BUTTONS.index("forward")] = 1
        >>> m.from_factored(buttons, np.array([[5, 9]]))
        (array([289]), array([64]))
        >>> m.to_factored(np.array([288]), np.array([65]))[1]  # camera meta off masks the camera head
        array([[5, 5]])
    """

    def __init__(self, n_camera_bins: int = 11) -> None:
        if isinstance(n_camera_bins, bool) or not isinstance(n_camera_bins, (int, np.integer)):
            raise ValueError(f"n_camera_bins must be an odd integer >= 1; got {n_camera_bins!r}")
        if n_camera_bins < 1 or n_camera_bins % 2 != 1:
            raise ValueError(f"n_camera_bins must be an odd integer >= 1; got {n_camera_bins!r}")
        self.n_camera_bins = int(n_camera_bins)
        self.camera_null_bin = self.n_camera_bins // 2
        self.n_button_classes = N_BUTTON_CLASSES
        self.n_camera_classes = self.n_camera_bins**2
        self.null_camera_class = self.camera_null_bin * (self.n_camera_bins + 1)
        self._hotbar_table = _encoding_table(_HOTBAR_COLUMNS)  # (512,) joint-class contributions
        self._rest_table = _encoding_table(_REST_COLUMNS)  # (2048,), INVENTORY_CLASS where inventory is on
        # (20, 2) weights turning a factored button vector into its (hotbar mask, rest mask)
        self._mask_weights = np.zeros((len(BUTTONS), 2), dtype=np.int64)
        self._mask_weights[_HOTBAR_COLUMNS, 0] = 1 << np.arange(len(_HOTBAR_COLUMNS))
        self._mask_weights[_REST_COLUMNS, 1] = 1 << np.arange(len(_REST_COLUMNS))
        self._button_table, self._camera_used = _decoding_tables()
        bins = np.arange(self.n_camera_bins)
        self._camera_table = np.stack(np.meshgrid(bins, bins, indexing="ij"), -1).reshape(-1, 2)
        for table in (self._button_table, self._camera_used, self._camera_table):
            table.flags.writeable = False

    def __repr__(self) -> str:
        return f"CameraHierarchicalMapping(n_camera_bins={self.n_camera_bins})"

    @property
    def button_table(self) -> np.ndarray:
        """Read-only (8641, 20) int64 table: factored buttons of every joint button class."""
        return self._button_table

    @property
    def camera_table(self) -> np.ndarray:
        """Read-only (n_camera_bins**2, 2) int64 table: (pitch bin, yaw bin) of every camera class."""
        return self._camera_table

    # -- validation -------------------------------------------------------------------------------

    def _factored_arrays(self, buttons: Any, camera_bins: Any) -> tuple[np.ndarray, np.ndarray]:
        buttons = np.asarray(buttons)
        camera_bins = _integer_array(
            camera_bins, "camera bins", f"shape (..., 2) in [0, {self.n_camera_bins})"
        )
        if buttons.dtype.kind not in "biu":
            raise ValueError(f"factored buttons must be 0/1 integers or bools; got dtype {buttons.dtype}")
        if buttons.ndim < 1 or buttons.shape[-1] != len(BUTTONS):
            raise ValueError(
                f"factored buttons must have shape (..., {len(BUTTONS)}) in the order {BUTTONS}; "
                f"got shape {buttons.shape}"
            )
        if camera_bins.shape != buttons.shape[:-1] + (2,):
            raise ValueError(
                f"camera bins must have shape {buttons.shape[:-1] + (2,)} to match buttons of shape "
                f"{buttons.shape}; got shape {camera_bins.shape}"
            )
        if buttons.dtype.kind != "b" and buttons.size and (buttons.min() < 0 or buttons.max() > 1):
            bad = buttons[(buttons < 0) | (buttons > 1)]
            raise ValueError(f"factored buttons must be 0 or 1; got {_short(bad)}")
        _check_range(camera_bins, self.n_camera_bins, "camera bins", f"{self.n_camera_bins} bins per axis")
        return buttons, camera_bins

    def _class_arrays(self, button_class: Any, camera_class: Any) -> tuple[np.ndarray, np.ndarray]:
        expected = f"MultiDiscrete([{N_BUTTON_CLASSES}, {self.n_camera_classes}])"
        button_class = _integer_array(button_class, "button class", expected)
        camera_class = _integer_array(camera_class, "camera class", expected)
        if button_class.shape != camera_class.shape:
            raise ValueError(
                f"button class and camera class must have the same shape; got {button_class.shape} "
                f"and {camera_class.shape}"
            )
        _check_range(button_class, N_BUTTON_CLASSES, "button class", expected)
        _check_range(camera_class, self.n_camera_classes, "camera class", expected)
        return button_class, camera_class

    # -- the mapping ------------------------------------------------------------------------------

    def _encode(self, buttons: np.ndarray, camera_bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``from_factored`` without validation (inputs already checked)."""
        masks = buttons.astype(np.int64, copy=False) @ self._mask_weights
        rest = self._rest_table[masks[..., 1]]
        inventory = rest == INVENTORY_CLASS
        camera_class = camera_bins[..., 0] * self.n_camera_bins + camera_bins[..., 1]
        camera_on = camera_class != self.null_camera_class
        combination = self._hotbar_table[masks[..., 0]] + rest + camera_on
        button_class = np.where(inventory, INVENTORY_CLASS, combination)
        camera_class = np.where(inventory, self.null_camera_class, camera_class)
        return button_class.astype(np.int64, copy=False), camera_class.astype(np.int64, copy=False)

    def _decode(self, button_class: np.ndarray, camera_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``to_factored`` without validation (inputs already checked)."""
        buttons = self._button_table[button_class]
        used = self._camera_used[button_class]
        camera_bins = self._camera_table[np.where(used, camera_class, self.null_camera_class)]
        return buttons, camera_bins

    def from_factored(self, buttons: Any, camera_bins: Any) -> tuple[np.ndarray, np.ndarray]:
        """Factored actions -> joint classes.

        :param buttons: ``(..., 20)`` 0/1 integers or bools in :data:`BUTTONS` order.
        :param camera_bins: ``(..., 2)`` integer bins (pitch, yaw).
        :return: ``(button_class, camera_class)``, int64 arrays of the leading shape ``(...)``.
        """
        return self._encode(*self._factored_arrays(buttons, camera_bins))

    def to_factored(self, button_class: Any, camera_class: Any) -> tuple[np.ndarray, np.ndarray]:
        """Joint classes -> factored actions.

        :param button_class: integer array in ``[0, 8641)``.
        :param camera_class: integer array in ``[0, n_camera_bins**2)``, same shape.
        :return: ``(buttons (..., 20), camera_bins (..., 2))``, int64.
        """
        return self._decode(*self._class_arrays(button_class, camera_class))

    def camera_flag(self, button_class: Any) -> np.ndarray:
        """Whether decoding ``button_class`` uses the camera class (bool array of the same shape).

        True for the camera-on combinations (odd classes below 8640) and, following the reference, for
        the inventory class 8640 (see the class notes).
        """
        expected = f"button classes in [0, {N_BUTTON_CLASSES})"
        button_class = _integer_array(button_class, "button class", expected)
        _check_range(button_class, N_BUTTON_CLASSES, "button class", expected)
        return self._camera_used[button_class]

    def canonical(self, button_class: Any, camera_class: Any) -> tuple[np.ndarray, np.ndarray]:
        """The canonical form of joint actions: what ``from_factored(*to_factored(b, c))`` gives.

        Camera-off classes get camera class 60; a camera-on class with camera class 60 becomes its
        camera-off twin (``b - 1``); inventory becomes ``(8640, 60)``; everything else is unchanged.
        """
        return self._encode(*self.to_factored(button_class, camera_class))


# ---------------------------------------------------------------------------------------------------
# Env action dict <-> agent action
# ---------------------------------------------------------------------------------------------------


class ActionMapping:
    """MineRL 1.0 env action dicts <-> VPT agent actions ``[button class, camera class]``.

    Agent actions are integer arrays of shape ``(2,)`` (one env) or ``(B, 2)`` (a batch), i.e. samples of
    ``MultiDiscrete([8641, 121])``. Env actions are dicts with MineRL's keys; a batch is a dict whose
    button values have shape ``(B,)`` and whose camera has shape ``(B, 2)``.

    Differences from the reference's ``MineRLAgent`` (documented fixes):

    * missing button keys (and a missing ``camera``) count as not pressed / no movement, as MineRL itself
      treats them; the reference raises a ``ValueError`` for an unbatched dict missing a model key;
    * bad input raises a ``ValueError`` naming it: an unknown key, a button value other than 0/1, a camera
      that is not shape ``(2,)`` / ``(B, 2)``, a NaN or infinite camera angle, batch sizes that disagree;
    * :meth:`is_null_env_action` implements the null rule the reference intends but never applies
      (its ``check_if_null`` compares against a method object, spec vpt.md section 11).

    :param quantizer: camera quantizer; VPT's mu-law quantizer by default.
    :param mapping: joint mapping; ``CameraHierarchicalMapping(quantizer.n_bins)`` by default.
    """

    def __init__(
        self, quantizer: CameraQuantizer | None = None, mapping: CameraHierarchicalMapping | None = None
    ) -> None:
        self.quantizer = quantizer if quantizer is not None else CameraQuantizer()
        self.mapping = mapping if mapping is not None else CameraHierarchicalMapping(self.quantizer.n_bins)
        if self.mapping.n_camera_bins != self.quantizer.n_bins:
            raise ValueError(
                f"mapping has {self.mapping.n_camera_bins} camera bins per axis but the quantizer has "
                f"{self.quantizer.n_bins}"
            )
        self.nvec = (N_BUTTON_CLASSES, self.mapping.n_camera_classes)
        # camera angles (float64) of every camera class, computed once with the quantizer itself
        self._camera_values = self.quantizer.undiscretize(self.mapping.camera_table)
        self._camera_values.flags.writeable = False

    @property
    def camera_values(self) -> np.ndarray:
        """Read-only (n_camera_classes, 2) float64 table: camera angles of every camera class."""
        return self._camera_values

    def __repr__(self) -> str:
        return f"ActionMapping({self.quantizer!r}, {self.mapping!r})"

    # -- env -> agent -----------------------------------------------------------------------------

    def _factored_from_env(self, env_action: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, bool]:
        """Validated ``(buttons (N, 20), camera bins (N, 2), batched)`` of an env action dict."""
        if not isinstance(env_action, Mapping):
            raise ValueError(f"an env action must be a dict of MineRL keys; got {type(env_action).__name__}")
        batch: int | None = None  # None: unbatched
        camera = env_action.get("camera")
        if camera is not None:
            camera = np.asarray(camera)
            if camera.dtype.kind not in "iuf":
                raise ValueError(
                    f"env action 'camera' must be real numbers; got dtype {camera.dtype}: {_short(camera)}"
                )
            if camera.shape != (2,) and not (camera.ndim == 2 and camera.shape[1] == 2):
                raise ValueError(
                    f"env action 'camera' must have shape (2,) [pitch, yaw] or (B, 2); got shape "
                    f"{camera.shape}: {_short(camera)}"
                )
            if camera.dtype.kind == "f" and not np.isfinite(camera).all():
                raise ValueError(f"env action 'camera' must be finite (degrees); got {_short(camera)}")
            batch = camera.shape[0] if camera.ndim == 2 else None
        if camera is None:  # no camera: the first button value sets the batch shape
            first = next((value for key, value in env_action.items() if key != "camera"), 0)
            batch = len(first) if np.ndim(first) == 1 else None
        n = 1 if batch is None else batch
        buttons = np.zeros((n, len(BUTTONS)), dtype=np.int64)
        for key, value in env_action.items():
            if key == "camera":
                continue
            column = _BUTTON_INDEX.get(key)
            if column is None and key not in IGNORED_KEYS:
                raise ValueError(
                    f"unknown env action key {key!r}; expected MineRL 1.0 keys {MINERL_ACTION_KEYS}"
                )
            if batch is None and isinstance(value, (int, np.integer, np.bool_)):  # fast path: one int
                if value == 1:
                    if column is not None:
                        buttons[0, column] = 1
                    continue
                if value == 0:
                    continue
                raise ValueError(f"env action {key!r} must be 0 or 1; got {value!r}")
            value = np.asarray(value)
            expected_shape = () if batch is None else (batch,)
            if value.shape != expected_shape:
                raise ValueError(
                    f"env action {key!r} must have shape {expected_shape} "
                    f"({'unbatched' if batch is None else f'batch of {batch}'}); got shape {value.shape}: "
                    f"{_short(value)}"
                )
            if value.dtype.kind not in "biuf" or not ((value == 0) | (value == 1)).all():
                raise ValueError(f"env action {key!r} must be 0 or 1; got {_short(value)}")
            if column is not None:
                buttons[:, column] = value
        if camera is None:
            camera_bins = np.full((n, 2), self.quantizer.zero_bin, dtype=np.int64)
        else:
            camera_bins = self.quantizer.discretize(camera).reshape(n, 2)
        return buttons, camera_bins, batch is not None

    def env_to_agent(self, env_action: Mapping[str, Any]) -> np.ndarray:
        """A MineRL env action dict -> agent action(s) ``[button class, camera class]`` (int64).

        :param env_action: MineRL 1.0 keys -> values; scalars and a ``(2,)`` camera for one action, or
            ``(B,)`` values and a ``(B, 2)`` camera for a batch. Missing keys are unpressed;
            ``ESC``/``pickItem``/``swapHands`` are checked and ignored.
        :return: shape ``(2,)``, or ``(B, 2)`` for a batch.
        :raises ValueError: on an unknown key, a non-0/1 button, a bad camera shape or value.
        """
        buttons, camera_bins, batched = self._factored_from_env(env_action)
        button_class, camera_class = self.mapping._encode(buttons, camera_bins)
        agent_action = np.stack([button_class, camera_class], axis=-1)
        return agent_action if batched else agent_action[0]

    def is_null_env_action(self, env_action: Mapping[str, Any]) -> bool | np.ndarray:
        """Whether an env action is VPT's "null" action: all 20 model buttons off and camera bins (5, 5).

        This is the rule the reference's BC data path intends (spec vpt.md sections 6.4, 11); the keys VPT
        ignores (``ESC``, ``pickItem``, ``swapHands``) do not count.

        :return: a Python bool for one action, a bool array ``(B,)`` for a batch.
        """
        buttons, camera_bins, batched = self._factored_from_env(env_action)
        null = ~buttons.any(axis=-1) & (camera_bins == self.quantizer.zero_bin).all(axis=-1)
        return null if batched else bool(null[0])

    # -- agent -> env -----------------------------------------------------------------------------

    def agent_action_arrays(self, agent_action: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        """Validated ``(button_class (N,), camera_class (N,), batched)`` of agent action(s)."""
        expected = f"MultiDiscrete([{self.nvec[0]}, {self.nvec[1]}]) [button class, camera class]"
        action = _integer_array(agent_action, "agent action", expected)
        if action.shape != (2,) and not (action.ndim == 2 and action.shape[1] == 2):
            raise ValueError(
                f"agent action must have shape (2,) or (B, 2) for {expected}; got shape {action.shape}"
            )
        batched = action.ndim == 2
        action = action.reshape(-1, 2)
        _check_range(action[:, 0], self.nvec[0], "button class", expected)
        _check_range(action[:, 1], self.nvec[1], "camera class", expected)
        return action[:, 0], action[:, 1], batched

    def agent_to_env(self, agent_action: Any) -> dict[str, np.ndarray]:
        """Agent action(s) ``[button class, camera class]`` -> a MineRL env action dict.

        :param agent_action: integers, shape ``(2,)`` or ``(B, 2)``.
        :return: the 20 :data:`BUTTONS` keys (int64 arrays of shape ``()`` or ``(B,)``) and ``"camera"``
            (float64, ``(2,)`` or ``(B, 2)``). No ``ESC``/``pickItem``/``swapHands`` (as the reference);
            the action wrapper adds them.
        :raises ValueError: on a non-integer dtype, a wrong shape or a class out of range.
        """
        button_class, camera_class, batched = self.agent_action_arrays(agent_action)
        buttons = self.mapping._button_table[button_class]
        used = self.mapping._camera_used[button_class]
        camera = self._camera_values[np.where(used, camera_class, self.mapping.null_camera_class)]
        if not batched:
            buttons, camera = buttons[0], camera[0]
        env_action = {name: buttons[..., i] for i, name in enumerate(BUTTONS)}
        env_action["camera"] = camera
        return env_action


_DEFAULT = ActionMapping()


def env_to_agent(env_action: Mapping[str, Any]) -> np.ndarray:
    """:meth:`ActionMapping.env_to_agent` with VPT's settings."""
    return _DEFAULT.env_to_agent(env_action)


def agent_to_env(agent_action: Any) -> dict[str, np.ndarray]:
    """:meth:`ActionMapping.agent_to_env` with VPT's settings."""
    return _DEFAULT.agent_to_env(agent_action)


def is_null_env_action(env_action: Mapping[str, Any]) -> bool | np.ndarray:
    """:meth:`ActionMapping.is_null_env_action` with VPT's settings."""
    return _DEFAULT.is_null_env_action(env_action)
