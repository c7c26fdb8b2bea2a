"""Contractor data: every jsonl -> env action rule against hand-computed values, frames, bad data, writer."""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.vpt.contractor import (
    CAMERA_FIELD,
    CAMERA_SCALER,
    KEYBOARD_TO_MINERL,
    ContractorFormatError,
    ContractorPair,
    ContractorReader,
    ContractorWriter,
    StepConverter,
    cursor_image,
    draw_cursor,
    env_action_to_json_step,
    find_pairs,
    read_pair,
)
from vpt_gym.actions import MINERL_ACTION_KEYS, MINERL_BINARY_KEYS
from tests.support.contractor_data import gray_frames, json_step, write_jsonl_lines, write_pair, write_video_bgr


def convert_all(steps, **kwargs):
    converter = StepConverter(**kwargs)
    return [converter.convert(step)[0] for step in steps]


def pressed(action):
    return sorted(key for key in MINERL_BINARY_KEYS if action[key] == 1)


# --------------------------------------------------------------------------------------------------
# jsonl -> env action rules
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, minerl",
    [
        ("key.keyboard.escape", "ESC"), ("key.keyboard.s", "back"), ("key.keyboard.q", "drop"),
        ("key.keyboard.w", "forward"), ("key.keyboard.1", "hotbar.1"), ("key.keyboard.5", "hotbar.5"),
        ("key.keyboard.9", "hotbar.9"), ("key.keyboard.e", "inventory"), ("key.keyboard.space", "jump"),
        ("key.keyboard.a", "left"), ("key.keyboard.d", "right"), ("key.keyboard.left.shift", "sneak"),
        ("key.keyboard.left.control", "sprint"), ("key.keyboard.f", "swapHands"),
    ],
)  # fmt: skip
def test_keyboard_key_maps_to_minerl_key(key, minerl):
    (action,) = convert_all([json_step(keys=[key])])
    assert pressed(action) == [minerl]
    assert sorted(action) == sorted(MINERL_ACTION_KEYS)  # all 24 keys present


def test_keymap_covers_spec_table():
    assert len(KEYBOARD_TO_MINERL) == 20
    assert set(KEYBOARD_TO_MINERL.values()) == set(MINERL_BINARY_KEYS) - {"attack", "use", "pickItem"}


@pytest.mark.parametrize("button, minerl", [(0, "attack"), (1, "use"), (2, "pickItem")])
def test_mouse_buttons(button, minerl):
    (action,) = convert_all([json_step(buttons=[button], new_buttons=[])])
    assert pressed(action) == [minerl]


def test_camera_is_float_degrees_not_truncated():
    # dx = 7 px -> 7 * 0.15 = 1.05 degrees yaw (the reference's integer array gives 1);
    # dy = -3 px -> -0.45 degrees pitch (the reference gives 0); 37.5 px -> 5.625 (reference: 5)
    first, second = convert_all([json_step(dx=7, dy=-3), json_step(dx=37.5, dy=37.5)])
    assert first["camera"].dtype == np.float64
    assert first["camera"][1] == pytest.approx(1.05, abs=1e-12) and first["camera"][1] != 1
    assert first["camera"][0] == pytest.approx(-0.45, abs=1e-12)
    assert second["camera"].tolist() == [5.625, 5.625]
    assert CAMERA_SCALER == 0.15


def test_attack_stuck_at_start_is_removed_until_pressed_again():
    steps = [
        json_step(buttons=[0], new_buttons=[0]),  # first step newly "presses" attack: stuck
        json_step(buttons=[0, 1], new_buttons=[1]),  # still held, not new: removed; use kept
        json_step(buttons=[0], new_buttons=[0]),  # a real new press: attack counts from here
        json_step(buttons=[0], new_buttons=[]),
    ]
    actions = convert_all(steps)
    assert [a["attack"] for a in actions] == [0, 0, 1, 1]
    assert [a["use"] for a in actions] == [0, 1, 0, 0]


def test_attack_not_stuck_when_first_step_presses_more():
    actions = convert_all([json_step(buttons=[0, 1], new_buttons=[0, 1]), json_step(buttons=[0])])
    assert [a["attack"] for a in actions] == [1, 1]


def test_hotbar_change_presses_hotbar_key():
    actions = convert_all([json_step(hotbar=h) for h in (0, 0, 3, 3, 0)])
    assert [pressed(a) for a in actions] == [[], [], ["hotbar.4"], [], ["hotbar.1"]]
    # a missing hotbar field (old recorder versions) changes nothing
    actions = convert_all([json_step(hotbar=None), json_step(hotbar=2), json_step(hotbar=None)])
    assert [pressed(a) for a in actions] == [[], ["hotbar.3"], []]


def test_unmapped_keys_ignored_or_rejected_when_strict():
    (action,) = convert_all([json_step(keys=["key.keyboard.t", "key.keyboard.w"])])
    assert pressed(action) == ["forward"]
    with pytest.raises(ContractorFormatError, match="key.keyboard.t"):
        convert_all([json_step(keys=["key.keyboard.t"])], strict_keys=True)


@pytest.mark.parametrize(
    "step, message",
    [
        (json_step(keys=["W"]), "unknown key 'W'"),
        (json_step(keys=[3]), "unknown key 3"),
        ({"keyboard": {"keys": []}}, "missing field 'mouse.buttons'"),
        (json_step(dx="7"), "'mouse.dx' must be int or float"),
        (json_step(dx=True), "'mouse.dx' must be int or float"),
        (json_step(dx=float("nan")), "finite"),
        (json_step(hotbar=9), r"'hotbar' must be in \[0, 8\]"),
        (json_step(buttons=["left"]), "list of integers"),
        ({**json_step(dx=7), CAMERA_FIELD: [0.0, 2.0]}, "disagrees with mouse"),
        ({**json_step(dx=7), CAMERA_FIELD: [0.0]}, "must be 2 finite numbers"),
    ],
)
def test_bad_steps_raise_naming_the_problem(step, message):
    with pytest.raises(ContractorFormatError, match=message):
        StepConverter(source="x.jsonl").convert(step)


# --------------------------------------------------------------------------------------------------
# Pairs: frames, null steps, chunks
# --------------------------------------------------------------------------------------------------


def read_all(path, **kwargs):
    chunks = list(read_pair(path, **kwargs))
    return chunks, [step for chunk in chunks for step in chunk.steps()]


def test_null_rules(tmp_path):
    steps = [
        json_step(),  # nothing: null for every rule
        json_step(dx=1),  # 0.15 deg, below the first bin edge 0.27: json non-null, agent null
        json_step(keys=["key.keyboard.escape"]),  # ESC only: json non-null, agent null (VPT ignores ESC)
        json_step(hotbar=4),  # scroll-only hotbar change: json null (reference), agent non-null
        json_step(keys=["key.keyboard.w"], hotbar=4),  # forward: non-null for every rule
        json_step(dx=2, hotbar=4),  # 0.3 deg -> camera bin 6: non-null for every rule
    ]
    video, _ = write_pair(tmp_path, "nulls", steps)
    kept = {rule: [s.index for s in read_all(video, drop_null=rule)[1]] for rule in ("agent", "json", "none")}
    assert kept == {"agent": [3, 4, 5], "json": [1, 2, 4, 5], "none": [0, 1, 2, 3, 4, 5]}
    with pytest.raises(ValueError, match="drop_null"):
        list(read_pair(video, drop_null="paper"))


def test_agent_actions_hand_computed(tmp_path):
    steps = [json_step(keys=["key.keyboard.w"], dx=7), json_step(keys=["key.keyboard.3"]), json_step(dy=-20, dx=200)]
    video, _ = write_pair(tmp_path, "agent", steps)
    _, read = read_all(video)
    # forward (288) + camera on (1); yaw 1.05 deg -> bin 6: camera class 5 * 11 + 6 = 61
    assert read[0].agent_action.tolist() == [289, 61]
    # hotbar.3 key + hotbar stays 0 in the jsonl: button class 3 * 864, camera null 60
    assert read[1].agent_action.tolist() == [2592, 60]
    # pitch -3.0 deg -> bin 2, yaw 30 deg -> clipped to bin 10: class 2 * 11 + 10 = 32, camera on only
    assert read[2].agent_action.tolist() == [1, 32]
    assert read[2].env_action["camera"].tolist() == [-3.0, 30.0]


def test_frames_bgr_to_rgb_and_resized_with_inter_linear(tmp_path):
    rng = np.random.default_rng(0)
    blue_bgr = np.zeros((2, 360, 640, 3), np.uint8)
    blue_bgr[..., 0] = 200  # OpenCV frames are BGR: channel 0 is blue
    blue_bgr[1, 100:200, 300:500] = rng.integers(0, 255, (100, 200, 3), dtype=np.uint8)
    video = write_video_bgr(tmp_path / "blue.mp4", blue_bgr)
    write_jsonl_lines(tmp_path / "blue.jsonl", [json_step(keys=["key.keyboard.w"])] * 2)
    _, read = read_all(video)
    first = read[0].frame
    assert first.shape == (128, 128, 3) and first.dtype == np.uint8
    assert first[..., 2].mean() > 190 and first[..., 0].mean() < 10  # blue is the last RGB channel
    # exactly what cv2 decodes, converted to RGB and resized with INTER_LINEAR (aspect ratio not kept)
    capture = cv2.VideoCapture(str(video))
    capture.read()
    _, raw = capture.read()
    capture.release()
    expected = cv2.resize(raw[..., ::-1], (128, 128), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(read[1].frame, expected)


def test_cursor_drawn_only_when_gui_open(tmp_path):
    frames = np.full((2, 360, 640, 3), 40, np.uint8)
    # mouse at (720, 360) in 720p pixels -> (360, 180) in the 360p frame -> around (72, 64) at 128x128
    steps = [json_step(keys=["key.keyboard.e"], gui=(720.0, 360.0)), json_step(keys=["key.keyboard.e"])]
    video, _ = write_pair(tmp_path, "gui", steps, frames_rgb=frames)
    _, (with_gui, without) = read_all(video)
    assert with_gui.frame[64:68, 72:75].mean() > without.frame[64:68, 72:75].mean() + 40
    np.testing.assert_array_equal(with_gui.frame[:50], without.frame[:50])  # untouched elsewhere


def test_draw_cursor_pixels_and_cropping():
    rgb, alpha = cursor_image(16)
    assert rgb.shape == (16, 16, 3) and alpha.shape == (16, 16, 1)
    frame = np.full((72, 128, 3), 100, np.uint8)
    draw_cursor(frame, 0.0, 0.0, original_height=72)  # scale 1
    assert frame[0, 0].tolist() == [0, 0, 0]  # outline at the tip
    assert frame[5, 2].tolist() == [255, 255, 255]  # white inside the arrow
    assert frame[0, 8].tolist() == [100, 100, 100]  # transparent: unchanged
    assert frame[20:, 20:].max() == 100
    # at 720p coordinates on a 360-high frame, positions are halved: tip at (10, 5)
    frame = np.full((360, 640, 3), 100, np.uint8)
    draw_cursor(frame, 20.0, 10.0)
    assert frame[5, 10].tolist() == [0, 0, 0] and frame[5 + 5, 10 + 2].tolist() == [255, 255, 255]
    # partly outside (negative x): cropped, not wrapped around or mis-sliced
    frame = np.full((72, 128, 3), 100, np.uint8)
    draw_cursor(frame, -2.0, 0.0, original_height=72)
    expected = (np.full((16, 14, 3), 100.0) * (1 - alpha[:, 2:]) + rgb[:, 2:] * alpha[:, 2:]).astype(np.uint8)
    np.testing.assert_array_equal(frame[:16, :14], expected)
    assert (frame[:, 14:] == 100).all() and (frame[16:] == 100).all()  # nothing beyond the cropped cursor
    draw_cursor(frame, 10_000.0, 10_000.0, original_height=72)  # fully outside: nothing happens


def test_chunks_stream_in_order(tmp_path):
    steps = [json_step(keys=["key.keyboard.w"]) for _ in range(8)]
    video, _ = write_pair(tmp_path, "chunks", steps)
    chunks, read = read_all(video, chunk_size=3)
    assert [len(c) for c in chunks] == [3, 3, 2] and [c.last for c in chunks] == [False, False, True]
    assert [s.index for s in read] == list(range(8))
    levels = [int(round(s.frame.mean())) for s in read]
    assert levels == pytest.approx(gray_frames(8)[:, 0, 0, 0].tolist(), abs=6)


# --------------------------------------------------------------------------------------------------
# Bad pairs
# --------------------------------------------------------------------------------------------------


def test_length_mismatch_is_an_error(tmp_path):
    video, _ = write_pair(tmp_path, "short", [json_step()] * 5, frames_rgb=gray_frames(4))
    with pytest.raises(ContractorFormatError, match="4 frames but .* 5 lines"):
        list(read_pair(video))
    video, _ = write_pair(tmp_path, "long", [json_step()] * 3, frames_rgb=gray_frames(4))
    with pytest.raises(ContractorFormatError, match="4 frames but .* 3 lines"):
        list(read_pair(video))


def test_bad_json_and_bad_video(tmp_path):
    video, jsonl = write_pair(tmp_path, "badjson", [json_step(), "{not json", json_step()])
    with pytest.raises(ContractorFormatError, match=r"badjson.jsonl:2: invalid JSON"):
        list(read_pair(video))
    write_jsonl_lines(jsonl, [json_step(), [1, 2], json_step()])
    with pytest.raises(ContractorFormatError, match=r"badjson.jsonl:2: expected a JSON object"):
        list(read_pair(video))
    (tmp_path / "garbage.mp4").write_bytes(b"this is not a video" * 100)
    write_jsonl_lines(tmp_path / "garbage.jsonl", [json_step()])
    with pytest.raises(ContractorFormatError, match="garbage.mp4"):
        list(read_pair(tmp_path / "garbage.mp4"))


def test_reader_reports_bad_pairs_and_goes_on(tmp_path):
    good = [write_pair(tmp_path, f"good{i}", [json_step(keys=["key.keyboard.w"])] * (5 + i))[0] for i in range(3)]
    write_pair(tmp_path, "mismatch", [json_step()] * 5, frames_rgb=gray_frames(3))
    write_pair(tmp_path, "unknownkey", [json_step(keys=["jump!"])] * 3)
    write_pair(tmp_path, "badjson", [json_step(), "{"])
    (tmp_path / "lonely.mp4").write_bytes(b"")
    (tmp_path / ".tmp-partial.mp4").write_bytes(b"")
    pairs, missing = find_pairs(tmp_path)
    assert [p.name for p in pairs] == ["badjson", "good0", "good1", "good2", "mismatch", "unknownkey"]
    assert [m.name for m in missing] == ["lonely.mp4"]
    reader = ContractorReader(pairs, n_workers=2, progress=False, chunk_size=4)
    by_name: dict[str, list[int]] = {}
    for chunk in reader:
        by_name.setdefault(chunk.name, []).extend(chunk.indices.tolist())
    assert by_name == {p.stem: list(range(5 + i)) for i, p in enumerate(good)}
    assert reader.n_steps == 5 + 6 + 7
    reasons = {problem.pair.name: problem.reason for problem in reader.problems}
    assert sorted(reasons) == ["badjson", "mismatch", "unknownkey"]
    assert "3 frames but" in reasons["mismatch"] and "unknown key 'jump!'" in reasons["unknownkey"]
    assert "invalid JSON" in reasons["badjson"]


def test_reader_stops_workers_on_break(tmp_path):
    pairs = [ContractorPair.of(write_pair(tmp_path, f"p{i}", [json_step(dx=5)] * 12)[0]) for i in range(4)]
    before = threading.active_count()
    reader = ContractorReader(pairs, n_workers=3, progress=False, chunk_size=2, max_queue=1)
    for chunk in reader:
        break
    assert threading.active_count() == before


# --------------------------------------------------------------------------------------------------
# Writer: the reader gives back the same env actions
# --------------------------------------------------------------------------------------------------


def test_writer_round_trip_exact_env_actions(tmp_path):
    actions = [
        {"attack": 1, "camera": [0.0, 0.0]},  # attack on the very first step must not read as "stuck"
        {"attack": 1, "forward": 1, "camera": [5.809483, -0.615394]},
        {"hotbar.3": 1, "camera": [1.05, 10.0]},
        {"hotbar.3": 1, "ESC": 1, "pickItem": 1, "swapHands": 1},
        {"hotbar.1": 1, "hotbar.2": 1, "use": 1, "camera": np.array([-7.654728, 0.27098162], np.float32)},
        {"sneak": 1, "sprint": 1, "inventory": 1, "drop": 1, "jump": 1, "left": 1, "right": 1, "back": 1},
        {},
    ]
    frames = gray_frames(len(actions), 72, 128)
    with ContractorWriter(tmp_path / "run") as writer:
        for t, (frame, action) in enumerate(zip(frames, actions)):
            writer.write(frame, action, gui_mouse_xy=(100.0, 50.0) if t == 5 else None)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temporary files renamed
    _, read = read_all(tmp_path / "run.mp4", drop_null="none")
    assert len(read) == len(actions)
    for step, action in zip(read, actions):
        assert pressed(step.env_action) == sorted(k for k, v in action.items() if k != "camera" and v)
        camera = np.asarray(action.get("camera", [0.0, 0.0]), np.float64)
        assert step.env_action["camera"].tolist() == camera.tolist()  # bit-exact
    assert abs(int(read[0].frame.mean()) - 20) <= 3


def test_writer_rejects_bad_input_and_leaves_no_files(tmp_path):
    frame = np.zeros((64, 64, 3), np.uint8)
    for action, message in [
        ({"fly": 1}, "unknown env action key 'fly'"),
        ({"forward": 2}, "must be a single 0 or 1"),
        ({"camera": [np.nan, 0.0]}, "camera"),
        ({"camera": [1.0, 2.0, 3.0]}, "camera"),
    ]:
        with pytest.raises(ValueError, match=message):
            with ContractorWriter(tmp_path / "bad") as writer:
                writer.write(frame, {"forward": 1})
                writer.write(frame, action)
    with pytest.raises(ValueError, match="same size"):
        with ContractorWriter(tmp_path / "bad") as writer:
            writer.write(frame, {})
            writer.write(np.zeros((32, 64, 3), np.uint8), {})
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        with ContractorWriter(tmp_path / "bad") as writer:
            writer.write(frame.astype(np.float32), {})
    assert list(tmp_path.iterdir()) == []


binary_actions = st.fixed_dictionaries(
    {},
    optional={
        **{key: st.integers(0, 1) for key in MINERL_BINARY_KEYS},
        "camera": st.lists(st.floats(-180, 180, allow_nan=False, width=64), min_size=2, max_size=2),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(binary_actions, min_size=1, max_size=6))
def test_json_steps_round_trip_property(actions):
    previous, converter = None, StepConverter()
    for action in actions:
        previous = env_action_to_json_step(action, previous)
        back, _ = converter.convert(previous)
        assert pressed(back) == sorted(k for k, v in action.items() if k != "camera" and v)
        assert back["camera"].tolist() == [float(v) for v in action.get("camera", [0.0, 0.0])]


def test_docstring_examples_run():
    import doctest

    import agents.vpt.contractor as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
