"""Pseudo-labelling: the window plan, the streaming driver, directory jobs (resume, failures, Ray)."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.vpt.contractor import ContractorReader, find_pairs, read_pair
from agents.vpt.labelling import (
    WindowAssignment,
    label_assignment,
    label_directory,
    label_frames,
    label_video,
    labels_to_env_actions,
)
from vpt_gym.optional import MissingDependency
from tests.support.contractor_data import (
    FailingLabeller,
    brightness_labeller,
    fake_ray_module,
    gray_frames,
    write_video_bgr,
)

# --------------------------------------------------------------------------------------------------
# The window plan
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, expected",
    [
        (0, []),
        (1, [(0, 0, 1)]),
        (127, [(0, 0, 127)]),
        (128, [(0, 0, 128)]),
        # two windows, starts 0 and 1 (the last one ends at the last frame); centres 63.5 and 64.5:
        # frame 64 is a tie and stays with the earlier window
        (129, [(0, 0, 65), (1, 65, 129)]),
        (192, [(0, 0, 96), (64, 96, 192)]),
        (
            1000,
            [(0, 0, 96)]
            + [(s, s + 32, s + 96) for s in range(64, 832, 64)]  # interior windows keep frames 32..95
            # window 832 (centre 895.5) and the last window 872 (centre 935.5) split at 915.5
            + [(832, 864, 916), (872, 916, 1000)],
        ),
    ],
)
def test_label_assignment_known_lengths(n, expected):
    plan = label_assignment(n)
    assert [tuple(w) for w in plan] == expected
    assert all(isinstance(w, WindowAssignment) for w in plan)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 3000),
    window_stride=st.sampled_from([(128, 64), (128, 128), (128, 1), (16, 5), (7, 3), (1, 1), (10, 10)]),
)
def test_label_assignment_property(n, window_stride):
    window, stride = window_stride
    plan = label_assignment(n, window, stride)
    owner = np.full(n, -1)
    for i, (start, keep_from, keep_to) in enumerate(plan):
        assert 0 <= start <= max(n - window, 0)
        assert start <= keep_from < keep_to <= min(start + window, n)  # kept frames lie in the window
        assert (owner[keep_from:keep_to] == -1).all()  # exactly once
        owner[keep_from:keep_to] = i
    assert (owner >= 0).all()
    # as few windows as a full cover needs, every window keeps something
    assert len(plan) == (0 if n == 0 else 1 if n <= window else math.ceil((n - window) / stride) + 1)
    # as central as possible: no window containing the frame has its centre nearer
    for f in range(0, n, max(1, n // 200)):
        start = plan[owner[f]].start
        distance = abs(f - (start + (min(window, n) - 1) / 2))
        for other in plan:
            if other.start <= f < other.start + window:
                assert distance <= abs(f - (other.start + (min(window, n) - 1) / 2))
    if (window, stride) == (128, 64):  # the paper's rule: interior windows keep their frames 32..95
        for start, keep_from, keep_to in plan[1:-2]:
            assert (keep_from - start, keep_to - start) == (32, 96)
        for start, keep_from, keep_to in plan[1:-1]:  # the one before the end-aligned window may keep less
            assert keep_from - start == 32 and keep_to - start <= 96


@pytest.mark.parametrize("bad", [dict(window=0), dict(stride=0), dict(window=64, stride=65), dict(window=1.5)])
def test_label_assignment_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="window|stride"):
        label_assignment(10, **bad)
    with pytest.raises(ValueError, match="n_frames"):
        label_assignment(-1)


# --------------------------------------------------------------------------------------------------
# The streaming driver
# --------------------------------------------------------------------------------------------------


def index_frames(n: int) -> np.ndarray:
    """Frames whose first pixel encodes their index exactly (base 256 in two channels)."""
    frames = np.zeros((n, 4, 4, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(n) % 256
    frames[:, 0, 0, 1] = np.arange(n) // 256
    return frames


def position_labeller(calls: list[int]):
    """Labels each frame with camera [its frame index, its position in the window] (as degrees)."""

    def label(frames: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(len(frames))
        index = frames[:, 0, 0, 0].astype(np.int64) + 256 * frames[:, 0, 0, 1].astype(np.int64)
        return {"camera": np.stack([index, np.arange(len(frames))], axis=1).astype(np.float64)}

    return label


@pytest.mark.parametrize("n", [1, 127, 128, 129, 1000])
def test_label_frames_uses_the_plan(n):
    frames = index_frames(n)
    calls: list[int] = []
    chunks = [frames[i : i + 50] for i in range(0, n, 50)]
    labels = label_frames(chunks, position_labeller(calls), window=128, stride=64)
    assert len(labels) == n
    plan = label_assignment(n)
    assert calls == [min(128, n)] * len(plan)  # every window is full (or the whole short video)
    expected_position = np.empty(n, np.int64)
    for start, keep_from, keep_to in plan:
        expected_position[keep_from:keep_to] = np.arange(keep_from, keep_to) - start
    got = np.array([label["camera"] for label in labels])
    np.testing.assert_array_equal(got[:, 0], np.arange(n))  # each frame's own label, in order
    np.testing.assert_array_equal(got[:, 1], expected_position)
    if n == 1000:
        assert got[500, 1] == 500 - 448  # frame 500: window 448, position 52 (within 32..95)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 400),
    window_stride=st.sampled_from([(128, 64), (16, 5), (7, 3), (1, 1), (10, 10)]),
    chunk=st.integers(1, 70),
)
def test_label_frames_property(n, window_stride, chunk):
    window, stride = window_stride
    calls: list[int] = []
    frames = index_frames(n)
    labels = label_frames([frames[i : i + chunk] for i in range(0, n, chunk)], position_labeller(calls), window, stride)
    plan = label_assignment(n, window, stride)
    assert len(calls) == len(plan) and len(labels) == n
    got = np.array([label["camera"] for label in labels]).reshape(n, 2)
    np.testing.assert_array_equal(got[:, 0], np.arange(n))
    for start, keep_from, keep_to in plan:
        np.testing.assert_array_equal(got[keep_from:keep_to, 1], np.arange(keep_from, keep_to) - start)


def test_label_frames_streams():
    pulled = []

    def chunks():
        for i in range(0, 1000, 10):
            pulled.append(i)
            yield index_frames(1000)[i : i + 10]

    first_call = []

    def labeller(frames):
        if not first_call:
            first_call.append(len(pulled))
        return np.tile(np.array([0, 60]), (len(frames), 1))

    label_frames(chunks(), labeller)
    assert first_call == [13]  # the first window runs once frame 128 has arrived, not after the whole video


def test_labels_to_env_actions_forms_and_errors():
    agent = labels_to_env_actions(np.array([[289, 61], [0, 60]]), 2)
    assert int(agent[0]["forward"]) == 1 and agent[0]["camera"][1] == pytest.approx(0.615394, abs=1e-6)
    listed = labels_to_env_actions([{"jump": 1}, {"jump": 0}], 2)
    assert [d["jump"] for d in listed] == [1, 0]
    with pytest.raises(ValueError, match=r"shape \(3, 2\) with integer dtype.*shape \(2, 2\)"):
        labels_to_env_actions(np.zeros((2, 2), np.int64), 3)
    with pytest.raises(ValueError, match="float32"):
        labels_to_env_actions(np.zeros((3, 2), np.float32), 3)
    with pytest.raises(ValueError, match="leading sizes"):
        labels_to_env_actions({"camera": np.zeros((4, 2))}, 3)
    with pytest.raises(ValueError, match="returned 1 items"):
        labels_to_env_actions([{"jump": 1}], 3)
    with pytest.raises(ValueError, match="button class out of range"):
        labels_to_env_actions(np.array([[9000, 60]]), 1)


# --------------------------------------------------------------------------------------------------
# Videos and directories
# --------------------------------------------------------------------------------------------------


def make_videos(root, lengths):
    root.mkdir(parents=True, exist_ok=True)
    for name, n in lengths.items():
        write_video_bgr(root / f"{name}.mp4", gray_frames(n, 72, 128)[..., ::-1])


def test_label_video_writes_a_contractor_pair(tmp_path):
    make_videos(tmp_path, {"clip": 150})
    calls: list[int] = []
    n = label_video(tmp_path / "clip.mp4", brightness_labeller(calls), tmp_path / "clip.jsonl")
    assert n == 150 and calls == [128, 128]
    lines = (tmp_path / "clip.jsonl").read_text().splitlines()
    assert len(lines) == 150 and json.loads(lines[0])["keyboard"]["keys"] == ["key.keyboard.w"]
    steps = [s for chunk in read_pair(tmp_path / "clip.mp4", drop_null="none") for s in chunk.steps()]
    yaw = np.array([s.env_action["camera"][1] for s in steps])
    np.testing.assert_allclose(yaw, gray_frames(150)[:, 0, 0, 0], atol=6)  # each frame's own level
    assert all(s.env_action["forward"] == 1 for s in steps)


def test_label_directory_resumes_and_reports_failures(tmp_path):
    videos, labels = tmp_path / "videos", tmp_path / "labels"
    make_videos(videos, {"a": 40, "b": 130})
    make_videos(videos / "sub", {"c": 10})
    (videos / "broken.mp4").write_bytes(b"not a video" * 50)
    report = label_directory(videos, brightness_labeller(), labels, progress=False)
    assert sorted((p.name, n) for p, n in report.labelled) == [("a.mp4", 40), ("b.mp4", 130), ("c.mp4", 10)]
    assert [(p.name, "cannot open the video" in reason) for p, reason in report.failed] == [("broken.mp4", True)]
    assert (labels / "sub" / "c.jsonl").is_file() and report.n_frames == 180
    # resume: complete label files are skipped (left untouched), the broken video is retried and fails again
    (labels / "a.jsonl").write_text((labels / "a.jsonl").read_text())
    before = (labels / "a.jsonl").stat().st_mtime_ns
    again = label_directory(videos, brightness_labeller(), labels, progress=False)
    assert sorted(p.name for p in again.skipped) == ["a.mp4", "b.mp4", "c.mp4"] and not again.labelled
    assert (labels / "a.jsonl").stat().st_mtime_ns == before and len(again.failed) == 1
    redo = label_directory(videos, brightness_labeller(), labels, progress=False, overwrite=True)
    assert len(redo.labelled) == 3
    # the labelled videos are contractor pairs that the BC data path reads
    pairs, missing = find_pairs(videos, labels_root=labels)
    assert sorted(p.name for p in pairs) == ["a", "b", "c"] and [m.name for m in missing] == ["broken.mp4"]
    reader = ContractorReader(pairs, n_workers=2, progress=False, drop_null="none")
    assert sum(len(chunk) for chunk in reader) == 180 and not reader.problems


def test_label_directory_survives_a_crashing_labeller(tmp_path):
    make_videos(tmp_path, {"a": 20, "b": 20, "c": 20})
    report = label_directory(tmp_path, FailingLabeller(fail_on=2), progress=False)
    assert [p.name for p, _ in report.labelled] == ["a.mp4", "c.mp4"]
    assert report.failed == [(tmp_path / "b.mp4", "RuntimeError: labeller crashed")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "a.mp4", "b.mp4", "c.jsonl", "c.mp4"]


def test_label_directory_bad_labeller_output_is_reported(tmp_path):
    make_videos(tmp_path, {"a": 5})
    report = label_directory(tmp_path, lambda frames: np.zeros((len(frames), 3), np.int64), progress=False)
    assert "shape (5, 2)" in report.failed[0][1] and not (tmp_path / "a.jsonl").exists()


def test_ray_backend_missing_dependency(tmp_path, monkeypatch):
    make_videos(tmp_path, {"a": 5})
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(MissingDependency, match=r'pip install -e "\.\[ray\]"'):
        label_directory(tmp_path, brightness_labeller(), backend="ray", progress=False)
    with pytest.raises(ValueError, match="backend"):
        label_directory(tmp_path, brightness_labeller(), backend="dask", progress=False)


def test_ray_backend_one_task_per_video(tmp_path, monkeypatch):
    make_videos(tmp_path, {"a": 30, "b": 140})
    (tmp_path / "broken.mp4").write_bytes(b"junk")
    ray = fake_ray_module()
    monkeypatch.setitem(sys.modules, "ray", ray)
    report = label_directory(
        tmp_path, brightness_labeller(), backend="ray", ray_options={"num_gpus": 1}, progress=False
    )
    assert sorted((p.name, n) for p, n in report.labelled) == [("a.mp4", 30), ("b.mp4", 140)]
    assert [p.name for p, _ in report.failed] == ["broken.mp4"]
    assert [entry for entry in ray.log if entry[0] == "task"] == [("task", {"max_retries": 3, "num_gpus": 1})] * 3
    assert [entry[0] for entry in ray.log[:2]] == ["init", "put"]  # the labeller is shipped once
    local = tmp_path / "local"
    label_directory(tmp_path, brightness_labeller(), local, progress=False)
    assert (local / "b.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def test_docstring_examples_run():
    import doctest

    import agents.vpt.labelling as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("window", [128, 32, 8, 3, 1])
def test_the_stride_defaults_to_half_the_window(window):
    """Issue #15: ``--window 32`` alone failed with "stride (64) must not exceed window (32)"."""
    from agents.vpt.labelling import default_stride

    stride = max(1, window // 2)
    assert default_stride(window) == stride and default_stride(window, 1) == 1
    assert label_assignment(300, window) == label_assignment(300, window, stride)
    calls: list = []
    labels = label_frames([np.zeros((70, 2, 2, 3), np.uint8)], position_labeller(calls), window)
    assert len(labels) == 70 and len(calls) == len(label_assignment(70, window, stride))
