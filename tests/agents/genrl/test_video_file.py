"""Writing decoded prompt videos."""
import numpy as np
import pytest

from agents.genrl.video_file import write_video


def test_gif_round_trip(tmp_path):
    frames = np.zeros((5, 64, 64, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(5)[:, None, None] * 50
    path = write_video(frames[None], tmp_path / "p.gif")
    import imageio.v3 as iio

    back = iio.imread(path, index=None)
    assert back.shape[0] == 5 and back.shape[1:3] == (64, 64)
    assert [int(f[..., 0].mean()) for f in back] == [0, 50, 100, 150, 200]
    assert [p.name for p in tmp_path.iterdir()] == ["p.gif"]


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_video(np.zeros((2, 64, 64, 3), np.float32), tmp_path / "x.gif")
    with pytest.raises(ValueError, match="'.avi'"):
        write_video(np.zeros((2, 64, 64, 3), np.uint8), tmp_path / "x.avi")
