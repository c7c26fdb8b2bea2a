"""Training loop: learning on moving-pattern frames, atomic checkpoints and exact resume."""
import json

import numpy as np
import pytest
import torch

from agents.genrl.checkpoint import TrainingState, load_checkpoint, read_metadata, save_checkpoint
from agents.genrl.episodes import EpisodeStore, collect
from agents.genrl.train_world_model import Args, parse_args, train
from agents.genrl.world_model import WorldModel, WorldModelConfig, make_optimizer
from tests.support.moving_pattern_env import MovingSquareEnv


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("episodes")
    collect(MovingSquareEnv(episode_steps=30, action_dim=2), None, 4, EpisodeStore(path), seed=0, progress=False)
    return path


def _args(data_dir, run_dir, steps, **kw):
    base = dict(data_dir=str(data_dir), run_dir=str(run_dir), config="small", steps=steps, batch_size=2,
                batch_length=8, seed=1, log_every=1, checkpoint_every=2, progress=False)
    base.update(kw)
    return Args(**base)


def test_resume_continues_identically(data_dir, tmp_path):
    straight = tmp_path / "straight"
    train(_args(data_dir, straight, steps=4))
    resumed = tmp_path / "resumed"
    train(_args(data_dir, resumed, steps=2))
    assert read_metadata(resumed / "checkpoint.safetensors")["step"] == 2
    torch.manual_seed(12345)  # disturb the global RNG: resume must restore it
    train(_args(data_dir, resumed, steps=4))
    a = load_checkpoint(straight / "checkpoint.safetensors", restore_rng=False)
    b = load_checkpoint(resumed / "checkpoint.safetensors", restore_rng=False)
    assert a.step == b.step == 4
    for (name, pa), pb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(pa, pb), name
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    lines_a = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    lines_b = [json.loads(x) for x in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines_b] == [1, 2, 3, 4]
    assert [x["loss"] for x in lines_a] == [x["loss"] for x in lines_b]
    assert not list(resumed.glob("*.tmp"))


def test_resume_refuses_changed_settings_and_repairs_the_metrics_log(data_dir, tmp_path):
    run = tmp_path / "run"
    train(_args(data_dir, run, steps=2))
    for changed, detail in ((dict(batch_size=3), "batch_size: 2 -> 3"), (dict(batch_length=16), "batch_length: 8 -> 16"),
                            (dict(seed=2), "seed: 1 -> 2")):
        with pytest.raises(ValueError, match=f"cannot resume with different settings \\({detail}\\)"):
            train(_args(data_dir, run, steps=4, **changed))
    # a kill after logging steps 3 and part of 4 but before the step-4 checkpoint: the resumed run
    # drops them and logs each step once
    log = run / "metrics.jsonl"
    log.write_text(log.read_text() + '{"step": 3, "loss": 1.0}\n{"step": 4, "lo')
    train(_args(data_dir, run, steps=4))
    straight = tmp_path / "straight"
    train(_args(data_dir, straight, steps=4))
    got = [json.loads(x) for x in log.read_text().splitlines()]
    want = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in got] == [1, 2, 3, 4]
    assert [x["loss"] for x in got] == [x["loss"] for x in want]
    # a fresh run (--no-resume) starts the log over
    train(_args(data_dir, run, steps=1, resume=False))
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [1]


@pytest.mark.parametrize("flag, value, message", [
    ("--steps", "-5", "steps must be an integer >= 1; got -5"),
    ("--batch-size", "0", "batch_size must be an integer >= 1; got 0"),
    ("--batch-length", "1", "batch_length must be an integer >= 2; got 1"),
    ("--checkpoint-every", "0", "checkpoint_every must be an integer >= 1"),
    ("--seed", "-1", "seed must be an integer >= 0"),
])
def test_bad_numbers_are_command_line_errors(flag, value, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--data-dir", "d", flag, value])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(ValueError, match=message.split(";")[0]):
        Args(data_dir="d", **{flag[2:].replace("-", "_"): int(value)})


def test_checkpoint_rejects_corrupt_and_foreign_files(tmp_path):
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    path = save_checkpoint(tmp_path / "ck.safetensors", TrainingState(wm, make_optimizer(wm)))
    assert json.loads(path.with_suffix(".json").read_text())["config"]["action_dim"] == 2
    data = bytearray(path.read_bytes())
    (tmp_path / "cut.safetensors").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ValueError, match="cut.safetensors"):
        load_checkpoint(tmp_path / "cut.safetensors")
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="not a vpt-gym world-model checkpoint"):
        load_checkpoint(tmp_path / "foreign.safetensors")


def test_args_cli_and_bad_config(data_dir, tmp_path):
    args = parse_args(["--data-dir", "d", "--no-resume", "--steps", "3", "--config", "official"])
    assert (args.data_dir, args.resume, args.steps, args.config) == ("d", False, 3, "official")
    with pytest.raises(ValueError, match="unknown config 'huge'"):
        train(_args(data_dir, tmp_path / "r", steps=1, config="huge"))
    with pytest.raises(FileNotFoundError, match="no episodes"):
        train(_args(tmp_path / "empty", tmp_path / "r2", steps=1))


def test_small_model_learns_moving_square(data_dir, tmp_path):
    torch.manual_seed(0)
    store = EpisodeStore(data_dir)
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    opt = make_optimizer(wm)
    for group in opt.param_groups:
        group["lr"] = 3e-3  # a faster rate than the reference's 1e-4 so that a few seconds suffice
    from agents.genrl.train_world_model import to_torch
    from agents.genrl.world_model import update

    rng = np.random.default_rng(0)
    losses = [update(wm, opt, to_torch(store.sample(2, 8, rng)))["image_loss"] for _ in range(25)]
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.5 * first, (first, last)


@pytest.fixture(scope="module")
def clip_data_dir(tmp_path_factory):
    """Episodes with unit ``clip_video`` rows (first 7 zero, as the reference's dataset processing)."""
    path = tmp_path_factory.mktemp("clip_episodes")
    src = EpisodeStore(tmp_path_factory.mktemp("raw"))
    collect(MovingSquareEnv(episode_steps=24, action_dim=2), None, 3, src, seed=0, progress=False)
    rng = np.random.default_rng(0)
    dst = EpisodeStore(path)
    for i in range(len(src)):
        ep = dict(src.load(i, ("observation", "action", "reward", "discount", "is_first", "is_last",
                               "is_terminal")))
        clip = rng.normal(size=(src.lengths[i], 16)).astype(np.float32)
        clip /= np.linalg.norm(clip, axis=1, keepdims=True)
        clip[:7] = 0
        ep["clip_video"] = clip
        dst.add(ep)
    return path


def test_connector_training_and_resume(clip_data_dir, tmp_path):
    kw = dict(train_connector=True, batch_length=8)
    m = train(_args(clip_data_dir, tmp_path / "a", steps=3, **kw))
    assert {"connector_kl", "aligner_loss", "connector_grad_norm"} <= set(m)
    train(_args(clip_data_dir, tmp_path / "b", steps=2, **kw))
    train(_args(clip_data_dir, tmp_path / "b", steps=3, **kw))
    a = load_checkpoint(tmp_path / "a" / "checkpoint.safetensors", restore_rng=False)
    b = load_checkpoint(tmp_path / "b" / "checkpoint.safetensors", restore_rng=False)
    assert a.connector is not None and a.connector.config.embed_dim == 16
    for (name, pa), pb in zip(a.connector.state_dict().items(), b.connector.state_dict().values()):
        assert torch.equal(pa, pb), name
    with pytest.raises(ValueError, match="train_connector=True"):
        train(_args(clip_data_dir, tmp_path / "b", steps=4))
    with pytest.raises(ValueError, match="multiple of 8"):
        train(_args(clip_data_dir, tmp_path / "c", steps=1, train_connector=True, batch_length=6))


def test_checkpoint_with_bad_metadata_is_rejected(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "bad.safetensors"), metadata={"vpt_gym": "{not json"})
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint(tmp_path / "bad.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "old.safetensors"),
              metadata={"vpt_gym": json.dumps({"format": "vpt_gym.genrl.world_model", "version": 99})})
    with pytest.raises(ValueError, match="v99"):
        load_checkpoint(tmp_path / "old.safetensors")


def test_v1_checkpoint_is_refused_with_a_clear_error(tmp_path):
    """v1 files (the optimiser layout before agents.checkpoints.optimizer_to_tensors) must not fail with a
    bare KeyError."""
    import json

    from safetensors.torch import save_file

    from agents.checkpoints import CheckpointError
    from agents.genrl.checkpoint import FORMAT, load_checkpoint

    path = tmp_path / "old.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"vpt_gym": json.dumps({"format": FORMAT, "version": 1})})
    with pytest.raises(CheckpointError, match="older vpt-gym.*v1"):
        load_checkpoint(path)


def test_lr_override_reaches_world_model_and_connector_and_is_a_resume_key(tmp_path):
    """``lr`` sets both optimisers' learning rate; a resume with another lr is refused, a bad one too."""
    store = EpisodeStore(tmp_path / "data")
    collect(MovingSquareEnv(episode_steps=20), None, 1, store, seed=0, progress=False)
    for path in store.paths:  # a connector needs clip_video
        with np.load(path) as d:
            arrays = {k: d[k] for k in d.files}
        arrays["clip_video"] = np.random.default_rng(0).standard_normal((len(arrays["action"]), 16)).astype(np.float32)
        np.savez_compressed(path, **arrays)
    args = dict(data_dir=str(tmp_path / "data"), run_dir=str(tmp_path / "run"), steps=1, batch_size=2, batch_length=8,
                progress=False, train_connector=True, lr=3e-4)
    train(Args(**args))
    state = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors", restore_rng=False)
    assert state.model.config.lr == 3e-4 and state.connector.config.lr == 3e-4
    with pytest.raises(Exception, match="lr"):
        train(Args(**{**args, "steps": 2, "lr": 1e-3}))
    with pytest.raises(ValueError, match="lr must be a number in"):
        Args(**{**args, "lr": 2.0})
