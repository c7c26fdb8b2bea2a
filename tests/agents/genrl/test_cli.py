"""``genrl-decode`` end to end on a tiny trained checkpoint: a readable GIF of the requested length, and
clear errors for a missing checkpoint, a text prompt with the random-features stand-in, a bad suffix."""
from __future__ import annotations

import argparse

import imageio.v3 as iio
import numpy as np
import pytest

from agents.genrl.cli import decode_add_arguments, decode_run, resolve_checkpoint
from agents.genrl.embeddings import precompute_embeddings
from agents.genrl.episodes import EpisodeStore, collect
from agents.genrl.train_world_model import Args, train
from agents.genrl.video_file import write_video
from agents.genrl.vlm.random_features import RandomFeatureVLM
from tests.support.moving_pattern_env import MovingSquareEnv


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A one-step small-config run whose connector trained on a random-features embedding set."""
    data = EpisodeStore(tmp_path_factory.mktemp("episodes"))
    collect(MovingSquareEnv(episode_steps=16, action_dim=2), None, 2, data, seed=0, progress=False)
    precompute_embeddings(data, RandomFeatureVLM(dim=16, n_frames=8, seed=3), tag="rf", progress=False)
    run = tmp_path_factory.mktemp("run")
    train(Args(data_dir=str(data.directory), run_dir=str(run), steps=1, batch_size=2, batch_length=8,
               embeddings="rf", progress=False))
    return run


@pytest.fixture(scope="module")
def prompt_video(tmp_path_factory):
    env = MovingSquareEnv(episode_steps=12, action_dim=2)
    obs, _ = env.reset(seed=1)
    frames = [obs]
    for _ in range(11):
        frames.append(env.step(np.zeros(2, np.float32))[0])
    return write_video(np.stack(frames), tmp_path_factory.mktemp("prompt") / "prompt.gif")


def _gif_duration_ms(path) -> float:
    from PIL import Image

    with Image.open(path) as im:
        total = 0.0
        for i in range(im.n_frames):
            im.seek(i)
            total += im.info["duration"]
    return total


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    decode_add_arguments(parser)
    return parser.parse_args(list(argv))


def test_video_prompt_writes_a_readable_gif_of_the_requested_length(run_dir, prompt_video, tmp_path, capsys):
    out = tmp_path / "decoded.gif"
    # no --vlm: the random-features VLM recorded with the run's embedding set (dim 16, seed 3) is rebuilt
    assert decode_run(_parse("--checkpoint", str(run_dir), "--video", str(prompt_video), "--out", str(out),
                             "--steps", "5")) == 0
    frames = iio.imread(out, index=None)
    assert frames.shape[1:] in ((64, 64, 3), (64, 64, 4)) and 1 <= frames.shape[0] <= 5
    # Pillow's GIF writer merges identical consecutive frames (an untrained model decodes near-constant
    # frames) and adds up their durations, so the length shows in the total play time: 5 frames at 15 fps
    assert round(_gif_duration_ms(out) / (1000 / 15)) == 5
    assert "wrote 5 frames" in capsys.readouterr().out
    # the checkpoint file itself works too
    out2 = tmp_path / "again.gif"
    assert decode_run(_parse("--checkpoint", str(run_dir / "checkpoint.safetensors"), "--video",
                             str(prompt_video), "--out", str(out2), "--steps", "3")) == 0
    assert round(_gif_duration_ms(out2) / (1000 / 15)) == 3


@pytest.mark.parametrize(
    "argv_tail, message",
    [
        (("--prompt", "walk forward", "--out", "x.gif"), "has no text tower"),
        (("--video", "PROMPT", "--out", "x.avi"), "expected one of \\['.gif', '.mp4'\\]"),
        (("--video", "missing.gif", "--out", "x.gif"), "video prompt .*missing.gif does not exist"),
        (("--video", "PROMPT", "--out", "x.gif", "--vlm", "no-such-vlm"), "no-such-vlm"),
        (("--video", "PROMPT", "--out", "x.gif", "--vlm", "random-features"), None),
    ],
)
def test_clear_errors(run_dir, prompt_video, tmp_path, capsys, argv_tail, message):
    argv = [a.replace("PROMPT", str(prompt_video)) for a in argv_tail]
    argv = [str(tmp_path / a) if a.startswith(("x.", "missing")) else a for a in argv]
    rc = decode_run(_parse("--checkpoint", str(run_dir), *argv))
    err = capsys.readouterr().err
    if message is None:  # explicit random-features: default seed 0 is a different VLM but the right size
        assert rc == 0, err
        return
    assert rc == 2
    assert err.startswith("genrl-decode: error:")
    import re
    assert re.search(message, err), err


def test_missing_checkpoint_and_run_without_connector(tmp_path, capsys):
    with pytest.raises(ValueError, match="does not exist"):
        resolve_checkpoint(tmp_path / "nope")
    with pytest.raises(ValueError, match="no checkpoint.safetensors in"):
        resolve_checkpoint(tmp_path)
    rc = decode_run(_parse("--checkpoint", str(tmp_path / "nope"), "--prompt", "x", "--out", str(tmp_path / "a.gif")))
    assert rc == 2 and "does not exist" in capsys.readouterr().err

    data = EpisodeStore(tmp_path / "eps")
    collect(MovingSquareEnv(episode_steps=10, action_dim=2), None, 1, data, seed=0, progress=False)
    train(Args(data_dir=str(data.directory), run_dir=str(tmp_path / "plain"), steps=1, batch_size=1,
               batch_length=8, progress=False))
    rc = decode_run(_parse("--checkpoint", str(tmp_path / "plain"), "--prompt", "x", "--out", str(tmp_path / "b.gif")))
    assert rc == 2 and "has no connector" in capsys.readouterr().err


def test_mutually_exclusive_prompt_sources():
    with pytest.raises(SystemExit):
        _parse("--checkpoint", "c", "--prompt", "p", "--video", "v", "--out", "o.gif")
    with pytest.raises(SystemExit):
        _parse("--checkpoint", "c", "--out", "o.gif")
