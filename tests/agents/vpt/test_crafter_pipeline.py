"""A seconds-long miniature of the VPT method on Crafter through the shared Minecraft code: demonstrations in
the contractor layout -> IDM -> pseudo-labels -> BC -> a few KL-PPO updates (``benchmarks/vpt_crafter.py`` at
full size)."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

from agents.crafter_demonstrator import run_demonstrator, write_episode
from agents.vpt.action_codecs import CrafterStepDecoder
from agents.vpt.bc import BCConfig, train_bc
from agents.vpt.config import IDM_PRESETS, POLICY_PRESETS
from agents.vpt.contractor import find_pairs, read_jsonl
from agents.vpt.idm_training import ActionIDMMetrics, IDMLabeller, IDMTrainingConfig, evaluate_idm, train_idm
from agents.vpt.labelling import label_directory
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture
from vpt_gym.envs.crafter import make

pytestmark = pytest.mark.usefixtures("one_torch_thread")

IDM = dataclasses.replace(IDM_PRESETS["tiny"], action_space="crafter")  # 32x32 frames, 8-frame windows
POLICY = dataclasses.replace(POLICY_PRESETS["tiny"], action_space="crafter", temperature=1.0)


def _write(episode, stem, withheld=None) -> None:
    video, jsonl = write_episode(episode, stem)
    assert video == stem.with_suffix(".mp4") and jsonl.is_file()
    if withheld is not None:  # unlabelled: keep only the video, the true actions aside
        os.replace(f"{stem}.jsonl", withheld / f"{stem.name}.jsonl")


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    root = tmp_path_factory.mktemp("crafter_demos")
    for name in ("labelled", "unlabelled", "withheld"):
        (root / name).mkdir()
    episodes = run_demonstrator(make(length=96), 3, seed=0)
    _write(episodes[0], root / "labelled" / "a")
    _write(episodes[1], root / "labelled" / "b")
    _write(episodes[2], root / "unlabelled" / "c", withheld=root / "withheld")
    return root, episodes


def test_miniature_vpt_method_on_crafter(demos, tmp_path):
    root, episodes = demos
    pairs, missing = find_pairs(root / "unlabelled")
    assert pairs == [] and [p.name for p in missing] == ["c.mp4"]  # the unlabelled set really has no actions

    # IDM on the labelled set (training windows are real video decoded from the mp4 files)
    idm_run = train_idm(IDMTrainingConfig(
        data=str(root / "labelled"), out_dir=str(tmp_path / "idm"), model=IDM.to_dict(), val_fraction=0.0,
        window=16, batch_size=4, epochs=40, lr=3e-3, seed=0, checkpoint_every=0, log_every=1000,
        log_formats=("csv",), progress=False, prefetch=0,
    ))  # fmt: skip
    first, last = np.mean(idm_run.losses[:5]), np.mean(idm_run.losses[-5:])
    assert last < 0.7 * first, (first, last)
    labelled_pairs, _ = find_pairs(root / "labelled")
    metrics = evaluate_idm(idm_run.idm, labelled_pairs, window=16)
    assert isinstance(metrics, ActionIDMMetrics) and metrics.n_frames == len(episodes[0]) + len(episodes[1])
    # above chance: better than always guessing the most frequent action
    assert metrics.action_accuracy > metrics.baseline_accuracy + 0.1, metrics

    # pseudo-labels for the unlabelled video, scored against the withheld actions
    report = label_directory(root / "unlabelled", IDMLabeller(idm_run.final_dir), tmp_path / "pseudo", window=16,
                             stride=8, resolution=32, action_codec="crafter", progress=False)  # fmt: skip
    assert report.failed == [] and report.n_frames == len(episodes[2])
    pseudo = [CrafterStepDecoder().convert(s)[0]["action"] for s in read_jsonl(tmp_path / "pseudo" / "c.jsonl")]
    truth = [CrafterStepDecoder().convert(s)[0]["action"] for s in read_jsonl(root / "withheld" / "c.jsonl")]
    assert truth == episodes[2].actions.tolist() and len(pseudo) == len(truth)
    assert all(0 <= a < 17 for a in pseudo)

    # BC on the pseudo-labelled video: the loss goes down
    bc = train_bc(BCConfig(
        data=str(root / "unlabelled"), labels=str(tmp_path / "pseudo"), out_dir=str(tmp_path / "bc"),
        policy=POLICY.to_dict(), batch_size=2, chunk_len=8, epochs=12, lr=2e-3, drop_null="none", seed=0,
        checkpoint_every=0, log_every=1000, log_formats=("csv",), progress=False, prefetch=0,
    ))  # fmt: skip
    assert np.mean(bc.losses[-3:]) < np.mean(bc.losses[:3]) - 0.3, bc.losses
    assert bc.policy.config.action_space == "crafter"

    # a few KL-PPO updates on Crafter's reward from the BC policy
    from stable_baselines3.common.env_util import make_vec_env

    from agents.sb3.kl_ppo import KLPPO

    env = make_vec_env(lambda: make(size=32, length=64), n_envs=2, seed=0)
    model = KLPPO.from_pretrained(str(bc.final_dir), env, n_steps=16, batch_size=16, n_epochs=2, learning_rate=1e-3,
                                  kl_coef=0.2, seed=0, device="cpu")  # fmt: skip
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    ref_head = model.ref_policy.vpt.pi_head.action.linear_layer.weight
    torch.testing.assert_close(ref_head, bc.policy.pi_head.action.linear_layer.weight)
    model.learn(64)
    assert model.num_timesteps == 64
    kl = model.logger.name_to_value["train/kl_ref"]
    assert np.isfinite(kl) and kl >= 0.0
    changed = [k for k, v in model.policy.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("vpt.pi_head.action") for k in changed)
    torch.testing.assert_close(model.ref_policy.vpt.pi_head.action.linear_layer.weight, ref_head)  # frozen reference
