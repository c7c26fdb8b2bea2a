"""train_world_model --embeddings TAG: the connector trains from a precomputed set, never running the VLM."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.genrl.checkpoint import load_checkpoint
from agents.genrl.embeddings import embedding_path, embeddings_dir, precompute_embeddings
from agents.genrl.episodes import EPISODE_KEYS, EpisodeStore, collect
from agents.genrl.train_world_model import Args, available_embeddings, open_embedded_store, parse_args, train
from agents.genrl.vlm.random_features import RandomFeatureVLM
from tests.support.moving_pattern_env import MovingSquareEnv

TAG = "rf16"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(plain episodes + precomputed set TAG, the same episodes carrying those embeddings inline)."""
    plain = EpisodeStore(tmp_path_factory.mktemp("plain"))
    collect(MovingSquareEnv(episode_steps=24, action_dim=2), None, 3, plain, seed=0, progress=False)
    vlm = RandomFeatureVLM(dim=16, n_frames=8)
    assert precompute_embeddings(plain, vlm, tag=TAG, progress=False) == TAG
    inline = EpisodeStore(tmp_path_factory.mktemp("inline"))
    directory = embeddings_dir(plain.directory, TAG)
    for i in range(len(plain)):
        ep = dict(plain.load(i, EPISODE_KEYS))
        ep["clip_video"] = np.load(embedding_path(plain, i, directory))
        inline.add(ep)
    return plain, inline


def _args(data_dir, run_dir, **kw) -> Args:
    base = dict(data_dir=str(data_dir), run_dir=str(run_dir), config="small", steps=2, batch_size=2,
                batch_length=8, seed=3, log_every=1, checkpoint_every=2, progress=False)
    base.update(kw)
    return Args(**base)


def test_training_from_tag_equals_inline_embeddings_without_running_the_vlm(stores, tmp_path, monkeypatch):
    plain, inline = stores

    def no_vlm(*args, **kwargs):
        raise AssertionError("training must not run the VLM")

    monkeypatch.setattr(RandomFeatureVLM, "embed_windows", no_vlm)
    monkeypatch.setattr(RandomFeatureVLM, "embed_video", no_vlm)
    m = train(_args(plain.directory, tmp_path / "tag", embeddings=TAG))
    assert {"connector_kl", "aligner_loss"} <= set(m) and np.isfinite(m["connector_kl"])
    train(_args(inline.directory, tmp_path / "inline", train_connector=True))
    a = load_checkpoint(tmp_path / "tag" / "checkpoint.safetensors", restore_rng=False)
    b = load_checkpoint(tmp_path / "inline" / "checkpoint.safetensors", restore_rng=False)
    assert a.connector is not None and a.connector.config.embed_dim == 16
    # same episodes, same embeddings, same seed: the two routes give the same connector bit for bit
    for (name, pa), pb in zip(a.connector.state_dict().items(), b.connector.state_dict().values()):
        assert torch.equal(pa, pb), name
    # resuming the tag run keeps connector training on (the tag implies --train-connector)
    train(_args(plain.directory, tmp_path / "tag", embeddings=TAG, steps=3))
    assert load_checkpoint(tmp_path / "tag" / "checkpoint.safetensors", restore_rng=False).step == 3


def test_embedded_store_serves_the_stored_rows(stores):
    plain, _ = stores
    store = open_embedded_store(plain.directory, TAG)
    batch = store.sample(3, 8, np.random.default_rng(0), ("observation", "clip_video"))
    directory = embeddings_dir(plain.directory, TAG)
    for row, (e, s) in enumerate(zip(batch["episode"], batch["start"])):
        expected = np.load(embedding_path(plain, int(e), directory))[s : s + 8]
        np.testing.assert_array_equal(batch["clip_video"][row], expected)


def test_missing_tag_lists_sets_and_command(stores, tmp_path):
    plain, _ = stores
    assert available_embeddings(plain.directory) == [TAG]
    with pytest.raises(FileNotFoundError, match=r"no embedding set 'nope'.*\['rf16'\].*python -m agents.genrl.embeddings"):
        train(_args(plain.directory, tmp_path / "r", embeddings="nope"))
    with pytest.raises(FileNotFoundError, match="sets present: none"):
        open_embedded_store(tmp_path / "empty", "x")
    with pytest.raises(ValueError, match="plain name"):
        open_embedded_store(plain.directory, "../escape")


def test_incomplete_or_wrong_shape_set_is_rejected(stores, tmp_path):
    plain, _ = stores
    copy = EpisodeStore(tmp_path / "copy")
    for i in range(len(plain)):
        copy.add(dict(plain.load(i, EPISODE_KEYS)))
    precompute_embeddings(copy, RandomFeatureVLM(dim=16, n_frames=8), tag="part", progress=False)
    directory = embeddings_dir(copy.directory, "part")
    first = embedding_path(copy, 0, directory)
    np.save(first, np.zeros((5, 16), np.float32))
    with pytest.raises(ValueError, match=r"expected float32 \(25, 16\)"):
        open_embedded_store(copy.directory, "part")
    first.unlink()
    with pytest.raises(FileNotFoundError, match="incomplete: 1 of 3 episodes.*--tag part"):
        train(_args(copy.directory, tmp_path / "r", embeddings="part"))


def test_train_connector_without_embeddings_points_to_the_tags(stores, tmp_path):
    plain, _ = stores
    with pytest.raises(KeyError, match="--embeddings TAG.*rf16"):
        train(_args(plain.directory, tmp_path / "r", train_connector=True))


def test_cli_flag():
    args = parse_args(["--data-dir", "d", "--embeddings", "clip-d512-k1"])
    assert args.embeddings == "clip-d512-k1" and args.trains_connector and not args.train_connector
    assert not parse_args(["--data-dir", "d"]).trains_connector
