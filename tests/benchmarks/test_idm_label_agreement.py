"""benchmarks/idm_label_agreement.py on a tiny IDM checkpoint and a short video the test writes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.vpt.idm import IDMNetwork
from agents.vpt.io import save_pretrained
from benchmarks import idm_label_agreement
from tests.support.contractor_data import write_video_bgr
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture


@pytest.fixture
def idm_and_videos(tmp_path):
    torch.manual_seed(0)
    idm = IDMNetwork("tiny")
    save_pretrained(idm, tmp_path / "idm")
    size = idm.config.img_size
    videos = tmp_path / "videos"
    videos.mkdir()
    rng = np.random.default_rng(0)
    write_video_bgr(videos / "a.mp4", rng.integers(0, 256, (20, size, size, 3), dtype=np.uint8))
    write_video_bgr(videos / "b.mp4", rng.integers(0, 256, (5, size, size, 3), dtype=np.uint8))  # < 1 window
    return tmp_path / "idm", videos


@pytest.mark.usefixtures("one_torch_thread")
def test_every_whole_window_is_labelled_by_every_mode(idm_and_videos):
    idm_dir, videos = idm_and_videos
    result = idm_label_agreement.measure(idm_dir, sorted(videos.glob("*.mp4")), window=8)
    heads = sum(int(np.prod(s[:-1])) for s in _head_shapes(idm_dir))  # decisions per frame
    assert result["windows"] == 2 and result["decisions"] == 2 * 8 * heads  # frames 16..19 and b.mp4: no whole window
    assert set(result["modes"]) == {"fp32", "bf16", "fast32"}
    fp32, fast32 = result["modes"]["fp32"], result["modes"]["fast32"]
    assert fp32["agreement"] == 1.0 and fp32["max_abs_logp"] == 0.0 and fp32["speed_vs_fp32"] == 1.0
    assert fast32["agreement"] >= 0.99 and fast32["max_abs_logp"] < 1e-3
    assert 0 < result["modes"]["bf16"]["max_abs_logp"] < 5 and 0.0 <= result["near_ties"] <= 1.0
    text = idm_label_agreement.report(result)
    assert "2 windows of 8 frames" in text and "fast32" in text


def _head_shapes(idm_dir):
    from agents.vpt.idm_training import IDMLabeller

    labeller = IDMLabeller(str(idm_dir))
    logp = labeller.logp(np.zeros((8, labeller.resolution, labeller.resolution, 3), np.uint8))
    return [tuple(v.shape[1:]) for v in logp.values()]


def test_bad_command_lines_are_one_line_with_status_2(idm_and_videos, tmp_path, capsys):
    idm_dir, videos = idm_and_videos
    assert idm_label_agreement.main(["--idm", str(idm_dir), "--videos", str(tmp_path / "none")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert idm_label_agreement.main(["--idm", str(idm_dir), "--videos", str(empty)]) == 2
    assert "holds no .mp4 file" in capsys.readouterr().err
    assert idm_label_agreement.main(["--idm", str(idm_dir), "--videos", str(videos), "--window", "64"]) == 2
    assert "no whole 64-frame window" in capsys.readouterr().err
