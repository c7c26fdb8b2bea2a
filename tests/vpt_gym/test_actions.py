"""VPT's action space (vpt_gym.actions) against the exact values of spec vpt.md sections 1, 11 and 12.

Expected numbers are the spec's worked values, or values computed by running the reference code
(openai/Video-Pre-Training 095519f, lib/actions.py + lib/action_mapping.py) on NumPy 2.4, as noted.
"""
from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vpt_gym.actions as actions
from vpt_gym.actions import (
    BUTTONS,
    INVENTORY_CLASS,
    MINERL_BINARY_KEYS,
    N_BUTTON_CLASSES,
    N_CAMERA_CLASSES,
    NULL_BUTTON_CLASS,
    NULL_CAMERA_CLASS,
    ActionMapping,
    CameraHierarchicalMapping,
    CameraQuantizer,
    agent_to_env,
    env_to_agent,
    is_null_env_action,
)

QUANTIZER = CameraQuantizer()
MAPPING = CameraHierarchicalMapping()


# ---------------------------------------------------------------------------------------------------
# names and sizes (spec 1.1, 1.2, 1.4)
# ---------------------------------------------------------------------------------------------------


def test_names_and_sizes() -> None:
    assert BUTTONS == (
        "attack", "back", "forward", "jump", "left", "right", "sneak", "sprint", "use", "drop",
        "inventory", "hotbar.1", "hotbar.2", "hotbar.3", "hotbar.4", "hotbar.5", "hotbar.6",
        "hotbar.7", "hotbar.8", "hotbar.9",
    )  # fmt: skip
    assert MINERL_BINARY_KEYS == (
        "ESC", "attack", "back", "drop", "forward", "hotbar.1", "hotbar.2", "hotbar.3", "hotbar.4",
        "hotbar.5", "hotbar.6", "hotbar.7", "hotbar.8", "hotbar.9", "inventory", "jump", "left",
        "pickItem", "right", "sneak", "sprint", "swapHands", "use",
    )  # fmt: skip
    assert (N_BUTTON_CLASSES, N_CAMERA_CLASSES) == (8641, 121)
    assert (NULL_BUTTON_CLASS, NULL_CAMERA_CLASS, INVENTORY_CLASS) == (0, 60, 8640)
    assert len(actions.MINERL_ACTION_KEYS) == 24
    space = actions.minerl_action_space()
    assert set(space.spaces) == set(MINERL_BINARY_KEYS) | {"camera"}
    assert space["camera"].shape == (2,) and space["camera"].dtype == np.float32
    assert space["camera"].low.tolist() == [-180, -180] and space["camera"].high.tolist() == [180, 180]
    assert actions.agent_action_space().nvec.tolist() == [8641, 121]


# ---------------------------------------------------------------------------------------------------
# camera quantizer (spec 1.3, 11, 12)
# ---------------------------------------------------------------------------------------------------

# (angle, bin) from spec 1.3's worked examples
WORKED = [
    (0.0, 5), (0.1, 5), (0.27, 5), (0.3, 6), (1.0, 6), (1.5, 7), (2.0, 7), (3.0, 8), (5.0, 9),
    (5.625, 9), (7.0, 9), (10.0, 10), (15.0, 10), (90.0, 10), (-0.75, 4), (-3.3, 2), (-10.0, 0),
]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("angle", "expected"), WORKED)
def test_discretize_worked_examples(angle: float, expected: int, dtype: type) -> None:
    bins = QUANTIZER.discretize(np.array([angle, -angle], dtype=dtype))
    assert bins.dtype == np.int64
    assert bins.tolist() == [expected, 10 - expected]  # symmetric for negatives


def test_quantizer_properties() -> None:
    assert (QUANTIZER.n_bins, QUANTIZER.zero_bin) == (11, 5)
    assert (QUANTIZER.maxval, QUANTIZER.binsize, QUANTIZER.mu, QUANTIZER.scheme) == (10, 2, 10, "mu_law")
    assert QUANTIZER.discretize(3.0).shape == ()  # any shape in, same shape out
    assert QUANTIZER.discretize(np.zeros((4, 3, 2))).shape == (4, 3, 2)
    assert QUANTIZER.discretize(np.array([3, -10])).tolist() == [8, 0]  # integer angles


def test_bin_centres_printed_precision() -> None:
    centres = QUANTIZER.undiscretize(np.arange(11))
    assert centres.dtype == np.float64
    expected = [-10, -5.809483, -3.215369, -1.609499, -0.615394, 0, 0.615394, 1.609499, 3.215369, 5.809483, 10]
    np.testing.assert_allclose(centres, expected, rtol=0, atol=5e-7)
    assert centres[[0, 5, 10]].tolist() == [-10.0, 0.0, 10.0]  # exact


def test_bin_centres_bit_exact() -> None:
    # float64 values printed by the reference's undiscretize (spec 12: this evaluation order only)
    expected = [
        -10.0, -5.809483127522302, -3.2153691330919005, -1.6094986352788734, -0.6153942662021781, 0.0,
        0.6153942662021781, 1.6094986352788734, 3.2153691330919005, 5.809483127522302, 10.0,
    ]  # fmt: skip
    assert QUANTIZER.undiscretize(np.arange(11)).tolist() == expected


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bin_centres_quantise_back_to_their_bin(dtype: type) -> None:
    # agent -> env -> agent must be stable also after MineRL's float32 Box
    bins = np.arange(11)
    assert QUANTIZER.discretize(QUANTIZER.undiscretize(bins).astype(dtype)).tolist() == bins.tolist()


# the decision edges of spec 1.3 at their printed precision (float64): below -> lower bin, at -> upper
@pytest.mark.parametrize(
    ("below", "at", "lower_bin"),
    [(0.270981, 0.270982, 5), (1.053136, 1.053137, 6), (2.316624, 2.316625, 7), (4.357656, 4.357657, 8),
     (7.654727, 7.654728, 9)],
)  # fmt: skip
def test_decision_edges_printed_precision(below: float, at: float, lower_bin: int) -> None:
    assert QUANTIZER.discretize(np.array([below, at])).tolist() == [lower_bin, lower_bin + 1]
    assert QUANTIZER.discretize(np.array([-below, -at])).tolist() == [10 - lower_bin, 9 - lower_bin]


# Exact last-value-in-lower-bin / first-value-in-next-bin pairs, found by bisecting the reference's
# discretize over adjacent floats (reference run on NumPy 2.4; float32 inputs as from MineRL's Box).
EXACT_EDGES = {
    np.float32: [
        (0.2709816098213196, 5, 0.27098163962364197, 6), (1.0531364679336548, 6, 1.0531365871429443, 7),
        (2.316624641418457, 7, 2.316624879837036, 8), (4.357656478881836, 8, 4.357656955718994, 9),
        (7.654726982116699, 9, 7.654727458953857, 10), (-0.2709816098213196, 5, -0.27098163962364197, 4),
        (-1.0531364679336548, 4, -1.0531365871429443, 3), (-2.316624641418457, 3, -2.316624879837036, 2),
        (-4.357656478881836, 2, -4.357656955718994, 1), (-7.654726982116699, 1, -7.654727458953857, 0),
    ],
    np.float64: [
        (0.27098161521014036, 5, 0.2709816152101404, 6), (1.0531364136588448, 6, 1.053136413658845, 7),
        (2.316624790355399, 7, 2.3166247903553994, 8), (4.357656669484117, 8, 4.3576566694841175, 9),
        (7.654727864164489, 9, 7.65472786416449, 10), (-0.27098161521014036, 5, -0.2709816152101404, 4),
        (-1.0531364136588446, 4, -1.0531364136588448, 3), (-2.3166247903553994, 3, -2.3166247903554, 2),
        (-4.357656669484114, 2, -4.357656669484115, 1), (-7.654727864164493, 1, -7.654727864164494, 0),
    ],
}  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_edges_match_reference(dtype: type) -> None:
    for last, last_bin, first, first_bin in EXACT_EDGES[dtype]:
        last_x, first_x = dtype(last), dtype(first)
        assert np.nextafter(last_x, first_x) == first_x  # adjacent floats: the edge is exactly here
        assert QUANTIZER.discretize(np.array([last_x, first_x], dtype=dtype)).tolist() == [last_bin, first_bin]


def test_float32_vs_float64_edge_example() -> None:
    # spec 11: 0.27098162 is bin 6 in float64 and bin 5 in float32 (quantised in the input's dtype)
    assert QUANTIZER.discretize(np.float64(0.27098162)) == 6
    assert QUANTIZER.discretize(np.float32(0.27098162)) == 5
    assert env_to_agent({"camera": np.array([0.27098162, 0.0], np.float64)}).tolist() == [1, 71]
    assert env_to_agent({"camera": np.array([0.27098162, 0.0], np.float32)}).tolist() == [0, 60]


def test_linear_scheme() -> None:
    linear = CameraQuantizer(scheme="linear")
    assert linear.discretize(np.array([0.0, 1.0, 2.0, 3.0, 10.0, -10.0, 50.0])).tolist() == [5, 6, 6, 6, 10, 0, 10]
    centres = linear.undiscretize(np.arange(11))
    assert centres.dtype == np.float64 and centres.tolist() == [float(2 * b - 10) for b in range(11)]
    wide = CameraQuantizer(maxval=20, binsize=4, scheme="linear")
    assert (wide.n_bins, wide.zero_bin) == (11, 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scheme": "cubic"}, "unknown camera quantization scheme 'cubic'"),
        ({"maxval": 0}, "maxval must be finite and > 0"),
        ({"binsize": -2}, "binsize must be finite and > 0"),
        ({"mu": float("nan")}, "mu must be finite and > 0"),
        ({"maxval": 10, "binsize": 3}, "maxval / binsize to be an integer"),
        ({"maxval": "10"}, "maxval must be a real number"),
    ],
)
def test_quantizer_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CameraQuantizer(**kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_discretize_rejects_non_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="camera angles must be finite"):
        QUANTIZER.discretize(np.array([0.0, bad]))


def test_discretize_rejects_non_numeric() -> None:
    with pytest.raises(ValueError, match="camera angles must be real numbers"):
        QUANTIZER.discretize(np.array(["a", "b"]))


@pytest.mark.parametrize(
    ("bins", "message"),
    [(np.array([11]), r"out of range: array\(\[11\]"), (np.array([-1, 5]), "out of range"),
     (np.array([5.0]), "must be integers"), (np.array([True]), "must be integers")],
)  # fmt: skip
def test_undiscretize_bad_bins(bins: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QUANTIZER.undiscretize(bins)


# ---------------------------------------------------------------------------------------------------
# joint mapping (spec 1.4)
# ---------------------------------------------------------------------------------------------------


def env(*pressed: str, camera: tuple[float, float] = (0.0, 0.0)) -> dict:
    """An unbatched env action dict with the given keys pressed."""
    action = {key: 0 for key in MINERL_BINARY_KEYS}
    action.update({key: 1 for key in pressed})
    action["camera"] = np.array(camera, dtype=np.float32)
    return action


ROUND_TRIP_TABLE = [
    # (pressed keys, camera, button class, camera class, decoded pressed keys, decoded camera)
    ((), (0, 0), 0, 60, (), (0.0, 0.0)),
    (("forward",), (0, 0), 288, 60, ("forward",), (0.0, 0.0)),
    (("forward",), (0, 5), 289, 64, ("forward",), (0.0, 5.809483)),
    (("forward", "jump", "attack"), (1, -1), 295, 70, ("forward", "jump", "attack"), (0.615394, -0.615394)),
    (("hotbar.3",), (0, 0), 2592, 60, ("hotbar.3",), (0.0, 0.0)),
    (("sneak", "sprint"), (0, 0), 64, 60, ("sneak",), (0.0, 0.0)),
    (("hotbar.1", "hotbar.2"), (0, 0), 1728, 60, ("hotbar.2",), (0.0, 0.0)),
    (("forward", "back"), (0, 0), 0, 60, (), (0.0, 0.0)),
    (("left", "right", "use", "drop"), (0, 0), 24, 60, ("use", "drop"), (0.0, 0.0)),
    (("inventory", "forward"), (5, 5), 8640, 60, ("inventory",), (0.0, 0.0)),
    ((), (0.2, 0.2), 0, 60, (), (0.0, 0.0)),
    ((), (10, -10), 1, 110, (), (10.0, -10.0)),
]


@pytest.mark.parametrize(("pressed", "camera", "button_class", "camera_class", "decoded", "decoded_camera"), ROUND_TRIP_TABLE)
def test_round_trip_table(pressed, camera, button_class, camera_class, decoded, decoded_camera) -> None:
    agent_action = env_to_agent(env(*pressed, camera=camera))
    assert agent_action.dtype == np.int64 and agent_action.shape == (2,)
    assert agent_action.tolist() == [button_class, camera_class]
    back = agent_to_env(agent_action)
    assert sorted(key for key in BUTTONS if back[key] == 1) == sorted(decoded)
    np.testing.assert_allclose(back["camera"], decoded_camera, rtol=0, atol=5e-7)


def test_empty_dict_is_the_null_action() -> None:
    assert env_to_agent({}).tolist() == [0, 60]


@pytest.mark.parametrize(
    ("agent_action", "pressed", "camera"),
    [
        ((289, 65), ("forward",), (0.0, 10.0)),
        ((288, 65), ("forward",), (0.0, 0.0)),  # camera meta off masks the camera head
        ((0, 0), (), (0.0, 0.0)),
        ((1, 60), (), (0.0, 0.0)),  # camera meta on with the null camera class: legal, no movement
        ((8640, 0), ("inventory",), (-10.0, -10.0)),  # the reference's inventory quirk
    ],
)
def test_decode_only_checks(agent_action, pressed, camera) -> None:
    back = agent_to_env(np.array(agent_action))
    assert [key for key in BUTTONS if back[key] == 1] == list(pressed)
    assert back["camera"].tolist() == list(camera)


def test_group_strides() -> None:
    buttons = np.zeros((1, 20), dtype=np.int64)
    null_bins = np.array([[5, 5]])
    expected = {"hotbar.1": 864, "hotbar.9": 9 * 864, "forward": 288, "back": 576, "left": 96, "right": 192,
                "sprint": 32, "sneak": 64, "use": 16, "drop": 8, "attack": 4, "jump": 2}  # fmt: skip
    for key, button_class in expected.items():
        pressed = buttons.copy()
        pressed[0, BUTTONS.index(key)] = 1
        assert MAPPING.from_factored(pressed, null_bins)[0].tolist() == [button_class], key
    # the camera meta action is the fastest digit; camera class = 11 * pitch bin + yaw bin
    assert MAPPING.from_factored(buttons, np.array([[5, 9]])) == (np.array([1]), np.array([64]))
    assert MAPPING.from_factored(buttons, np.array([[9, 5]]))[1].tolist() == [104]


def oracle_from_factored(buttons: list[int], camera_bins: tuple[int, int]) -> tuple[int, int]:
    """Spec 1.4's rules, written out row by row (an independent check of the vectorised tables)."""
    pressed = {name for name, value in zip(BUTTONS, buttons) if value}
    if "inventory" in pressed:
        return 8640, 60
    button_class, stride = 0, 8640
    for _, options in actions.BUTTON_GROUPS[:-1]:
        stride //= len(options)
        chosen = [i for i, option in enumerate(options) if option in pressed]
        if set(options) & {"forward", "left"} and len(chosen) == 2:
            chosen = []  # forward+back, left+right cancel
        button_class += (chosen[-1] if chosen else 0) * stride  # the later option wins
    camera_on = tuple(camera_bins) != (5, 5)
    return button_class + camera_on, 11 * camera_bins[0] + camera_bins[1]


factored_actions = st.tuples(
    st.lists(st.sampled_from([0, 0, 0, 1]), min_size=20, max_size=20),
    st.tuples(st.integers(0, 10), st.integers(0, 10)) | st.just((5, 5)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(factored_actions, min_size=1, max_size=8))
def test_from_factored_matches_the_rules(batch) -> None:
    buttons = np.array([b for b, _ in batch])
    camera_bins = np.array([c for _, c in batch])
    button_class, camera_class = MAPPING.from_factored(buttons, camera_bins)
    assert button_class.shape == camera_class.shape == (len(batch),)
    expected = [oracle_from_factored(b, c) for b, c in batch]
    assert list(zip(button_class.tolist(), camera_class.tolist())) == expected


def test_to_factored_tables_exhaustive() -> None:
    classes = np.arange(INVENTORY_CLASS)
    buttons, camera_bins = MAPPING.to_factored(classes, np.full(classes.shape, 0))
    assert buttons.shape == (8640, 20) and camera_bins.shape == (8640, 2)
    # every combination decodes to a factored action that encodes back to itself (camera on: class odd)
    assert (MAPPING.from_factored(buttons, camera_bins)[0] == classes).all()
    # at most one button per group, never inventory
    assert buttons[:, BUTTONS.index("inventory")].sum() == 0
    assert buttons[:, BUTTONS.index("hotbar.1") :].sum(axis=1).max() == 1
    flags = MAPPING.camera_flag(np.arange(N_BUTTON_CLASSES))
    assert flags[:8640].tolist() == [bool(k % 2) for k in range(8640)]
    assert flags[8640]  # the reference does not flag inventory camera-off


def test_from_factored_any_leading_shape_and_bools() -> None:
    buttons = np.zeros((2, 3, 20), dtype=bool)
    buttons[1, 2, BUTTONS.index("jump")] = True
    button_class, camera_class = MAPPING.from_factored(buttons, np.full((2, 3, 2), 5))
    assert button_class.shape == (2, 3) and button_class[1, 2] == 2 and camera_class.max() == 60


def is_canonical(button_class: np.ndarray, camera_class: np.ndarray) -> np.ndarray:
    inventory = button_class == INVENTORY_CLASS
    camera_on = (button_class % 2 == 1) & ~inventory
    return np.where(camera_on, camera_class != 60, camera_class == 60)


def expected_canonical(button_class: np.ndarray, camera_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spec/issue rule: inventory -> (8640, 60); camera-off -> (b, 60); camera-on with 60 -> (b - 1, 60)."""
    inventory = button_class == INVENTORY_CLASS
    camera_on = (button_class % 2 == 1) & ~inventory
    b = np.where(camera_on & (camera_class == 60), button_class - 1, button_class)
    c = np.where(camera_on, camera_class, 60)
    return b, c


def test_agent_env_agent_exhaustive() -> None:
    """Every one of the 8641 x 121 agent actions: identity if canonical, else its canonical form."""
    b, c = (grid.ravel() for grid in np.meshgrid(np.arange(8641), np.arange(121), indexing="ij"))
    back = env_to_agent(agent_to_env(np.stack([b, c], axis=-1)))
    canonical_b, canonical_c = expected_canonical(b, c)
    assert (back[:, 0] == canonical_b).all() and (back[:, 1] == canonical_c).all()
    canonical = is_canonical(b, c)
    assert canonical.sum() == 4320 + 4320 * 120 + 1
    assert (back[canonical] == np.stack([b, c], axis=-1)[canonical]).all()
    mb, mc = MAPPING.canonical(b, c)
    assert (mb == canonical_b).all() and (mc == canonical_c).all()


agent_actions = st.tuples(st.integers(0, 8640), st.integers(0, 120))


@settings(max_examples=500, deadline=None)
@given(agent_actions)
def test_agent_env_agent_property(action) -> None:
    b, c = np.array([action[0]]), np.array([action[1]])
    back = env_to_agent(agent_to_env(np.array(action)))
    if is_canonical(b, c)[0]:
        assert back.tolist() == list(action)
    expected_b, expected_c = expected_canonical(b, c)
    assert back.tolist() == [int(expected_b[0]), int(expected_c[0])]
    # through MineRL's float32 camera as well (what the action wrapper sends)
    env_action = agent_to_env(np.array(action))
    env_action["camera"] = env_action["camera"].astype(np.float32)
    assert env_to_agent(env_action).tolist() == back.tolist()


camera_angles = st.floats(-200, 200, allow_nan=False, width=32) | st.sampled_from([0.0, 0.27098162, -7.654728, 10.0])
env_actions = st.tuples(
    st.dictionaries(st.sampled_from(MINERL_BINARY_KEYS), st.integers(0, 1)),
    st.none() | st.tuples(camera_angles, camera_angles),
    st.sampled_from([np.float32, np.float64]),
)


@settings(max_examples=300, deadline=None)
@given(env_actions)
def test_env_agent_env_idempotent(case) -> None:
    keys, camera, dtype = case
    action = dict(keys)
    if camera is not None:
        action["camera"] = np.array(camera, dtype=dtype)
    once = agent_to_env(env_to_agent(action))
    twice = agent_to_env(env_to_agent(once))
    assert set(once) == set(twice) == set(BUTTONS) | {"camera"}
    for key in once:
        assert np.array_equal(once[key], twice[key]), key
    # nullness is judged on the factored buttons (spec 6.4): forward+back is not null, but maps to null
    agent_null = env_to_agent(action).tolist() == [NULL_BUTTON_CLASS, NULL_CAMERA_CLASS]
    assert is_null_env_action(once) == agent_null
    if is_null_env_action(action):
        assert agent_null


# ---------------------------------------------------------------------------------------------------
# env_to_agent / agent_to_env / is_null_env_action: shapes, batches, errors
# ---------------------------------------------------------------------------------------------------


def test_batched_env_to_agent() -> None:
    batch = {key: np.zeros(3, dtype=np.int64) for key in BUTTONS}
    batch["forward"] = np.array([1, 0, 1])
    batch["inventory"] = np.array([0, 0, 1])
    batch["camera"] = np.array([[0.0, 5.0], [0.0, 0.0], [3.0, 3.0]], np.float32)
    assert env_to_agent(batch).tolist() == [[289, 64], [0, 60], [8640, 60]]
    # without camera the batch size comes from the buttons; missing keys are unpressed
    assert env_to_agent({"jump": np.array([1, 0])}).tolist() == [[2, 60], [0, 60]]
    # float 0/1 values (the reference's batched path uses float zeros) and bools are accepted
    assert env_to_agent({"jump": np.array([1.0, 0.0]), "use": np.array([True, False])}).tolist() == [[18, 60], [0, 60]]


def test_ignored_keys_are_ignored() -> None:
    assert env_to_agent({"ESC": 1, "pickItem": 1, "swapHands": 1}).tolist() == [0, 60]
    assert is_null_env_action({"ESC": 1, "pickItem": 1, "swapHands": 1}) is True


def test_missing_keys_are_unpressed() -> None:
    # the reference raises ValueError here (spec 11); MineRL treats missing keys as not pressed
    assert env_to_agent({"forward": 1, "camera": [0.0, 0.0]}).tolist() == [288, 60]
    assert env_to_agent({"camera": [0, 3]}).tolist() == [1, 63]


def test_is_null_env_action() -> None:
    assert is_null_env_action({}) is True
    assert is_null_env_action(env(camera=(0.2, -0.2))) is True  # below the first edge: bins (5, 5)
    assert is_null_env_action(env("forward")) is False
    assert is_null_env_action(env(camera=(0.3, 0.0))) is False
    batch = {"attack": np.array([0, 1, 0]), "camera": np.array([[0.0, 0.0], [0.0, 0.0], [0.0, -2.0]])}
    assert is_null_env_action(batch).tolist() == [True, False, False]


def test_agent_to_env_shapes_and_dtypes() -> None:
    single = agent_to_env(np.array([295, 70]))
    assert list(single) == list(BUTTONS) + ["camera"]
    for key in BUTTONS:
        assert isinstance(single[key], np.ndarray) and single[key].shape == () and single[key].dtype == np.int64
    assert single["camera"].shape == (2,) and single["camera"].dtype == np.float64
    assert agent_to_env([0, 60])["camera"].tolist() == [0.0, 0.0]  # Python ints accepted
    batch = agent_to_env(np.array([[295, 70], [2592, 60]], dtype=np.int32))
    assert batch["forward"].tolist() == [1, 0] and batch["hotbar.3"].tolist() == [0, 1]
    assert batch["camera"].shape == (2, 2) and batch["camera"].dtype == np.float64
    assert agent_to_env(np.zeros((0, 2), dtype=np.int64))["camera"].shape == (0, 2)


@pytest.mark.parametrize(
    ("agent_action", "message"),
    [
        (np.array([288.0, 60.0]), "agent action must be integers .*MultiDiscrete\\(\\[8641, 121\\]\\).*float64"),
        (np.array([np.nan, 60.0]), "agent action must be integers.*nan"),
        (np.array([True, False]), "agent action must be integers.*bool"),
        (np.array([1, 2, 3]), r"must have shape \(2,\) or \(B, 2\).*got shape \(3,\)"),
        (np.zeros((2, 2, 2), dtype=np.int64), r"got shape \(2, 2, 2\)"),
        (np.array([8641, 60]), r"button class out of range: array\(\[8641\].*\[0, 8641\)"),
        (np.array([-1, 60]), "button class out of range"),
        (np.array([[0, 60], [0, 121]]), r"camera class out of range: array\(\[121\].*\[0, 121\)"),
        ("288", "agent action must be integers"),
    ],
)
def test_agent_to_env_bad_input(agent_action, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        agent_to_env(agent_action)


@pytest.mark.parametrize(
    ("env_action", "message"),
    [
        ({"fly": 1}, "unknown env action key 'fly'; expected MineRL 1.0 keys"),
        ({"camera": np.array([np.nan, 0.0])}, "'camera' must be finite.*nan"),
        ({"camera": np.array([np.inf, 0.0], np.float32)}, "'camera' must be finite.*inf"),
        ({"camera": np.array([1.0, 2.0, 3.0])}, r"'camera' must have shape \(2,\).*got shape \(3,\)"),
        ({"camera": np.zeros((4, 3))}, r"got shape \(4, 3\)"),
        ({"camera": np.array(["a", "b"])}, "'camera' must be real numbers"),
        ({"forward": 2}, "'forward' must be 0 or 1; got 2"),
        ({"forward": -1}, "'forward' must be 0 or 1; got -1"),
        ({"forward": 0.5}, r"'forward' must be 0 or 1; got array\(0.5"),
        ({"ESC": 3}, "'ESC' must be 0 or 1"),
        ({"jump": np.nan}, "'jump' must be 0 or 1"),
        ({"jump": "yes"}, "'jump' must be 0 or 1"),
        ({"jump": 1, "camera": np.zeros((3, 2))}, r"'jump' must have shape \(3,\) \(batch of 3\); got shape \(\)"),
        ({"jump": np.array([1, 0]), "use": 1}, r"'use' must have shape \(2,\)"),
        ({"jump": np.array([[1]])}, r"'jump' must have shape \(\) \(unbatched\); got shape \(1, 1\)"),
        ([("forward", 1)], "must be a dict of MineRL keys; got list"),
    ],
)
def test_env_to_agent_bad_input(env_action, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        env_to_agent(env_action)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: MAPPING.from_factored(np.zeros((2, 19), int), np.full((2, 2), 5)), r"shape \(\.\.\., 20\)"),
        (lambda: MAPPING.from_factored(np.zeros((2, 20), int), np.full((3, 2), 5)), r"must have shape \(2, 2\)"),
        (lambda: MAPPING.from_factored(np.full((1, 20), 2), np.full((1, 2), 5)), "must be 0 or 1"),
        (lambda: MAPPING.from_factored(np.zeros((1, 20)), np.full((1, 2), 5)), "0/1 integers or bools"),
        (lambda: MAPPING.from_factored(np.zeros((1, 20), int), np.array([[11, 5]])), "camera bins out of range"),
        (lambda: MAPPING.to_factored(np.array([8641]), np.array([60])), "button class out of range"),
        (lambda: MAPPING.to_factored(np.array([1]), np.array([121])), "camera class out of range"),
        (lambda: MAPPING.to_factored(np.array([1, 2]), np.array([60])), "same shape"),
        (lambda: MAPPING.camera_flag(np.array([9000])), "button class out of range"),
        (lambda: CameraHierarchicalMapping(10), "odd integer"),
        (lambda: ActionMapping(CameraQuantizer(maxval=20), MAPPING), "11 camera bins per axis but the quantizer has 21"),
    ],
)
def test_mapping_bad_input(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_action_mapping_with_other_quantizer() -> None:
    linear = ActionMapping(CameraQuantizer(scheme="linear"))
    assert linear.env_to_agent({"camera": [1.0, 3.0]}).tolist() == [1, 6 * 11 + 6]
    assert linear.agent_to_env([1, 72])["camera"].tolist() == [2.0, 2.0]
    fine = ActionMapping(CameraQuantizer(maxval=20, binsize=2))  # 21 bins, 441 camera classes
    assert fine.nvec == (8641, 441) and fine.mapping.null_camera_class == 220
    assert fine.env_to_agent({}).tolist() == [0, 220]


def test_group_iteration_is_complete() -> None:
    # every factored button but inventory belongs to exactly one group
    grouped = [option for _, options in actions.BUTTON_GROUPS for option in options[1:]]
    assert sorted(grouped) == sorted(set(BUTTONS) - {"inventory"} | {"camera"})
    assert np.prod([len(options) for _, options in actions.BUTTON_GROUPS]) == INVENTORY_CLASS


def test_docstring_examples() -> None:
    assert doctest.testmod(actions).failed == 0
