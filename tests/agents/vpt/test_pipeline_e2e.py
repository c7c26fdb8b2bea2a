"""The whole VPT method end to end on synthetic contractor data where the action is visible in the frames
(tests/support/synthetic_vpt_data.py: a textured world panned by the camera action, a red flash after
attack), everything through the package's own reader, writer, labeller and trainers:

1. train a (tiny) IDM on labelled recordings; its held-out accuracy must rise well above chance;
2. pseudo-label other recordings whose true actions are hidden; the labels must agree with the truth;
3. behaviourally clone a (tiny) policy on the pseudo-labels; its loss must fall, and so must its
   negative log-likelihood of the TRUE actions of those recordings.

The default run uses a short schedule (attack is learnt, the camera only starts to be); the slow test
trains longer and checks the camera too. Both print their figures (``pytest -s``).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.vpt.bc import BCConfig, evaluate_bc, train_bc
from agents.vpt.contractor import ContractorPair, read_pair
from agents.vpt.idm_training import IDMLabeller, IDMMetrics, IDMTrainingConfig, env_action_arrays, train_idm
from agents.vpt.labelling import label_directory
from agents.vpt.policy import VPTPolicyNet
from tests.support.synthetic_vpt_data import write_synthetic_dataset
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture
from vpt_gym.actions import BUTTONS, CameraQuantizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass
class PipelineFigures:
    metrics: IDMMetrics
    attack_agreement: float
    camera_bin_agreement: float
    button_agreement: float
    bc_first_losses: float
    bc_last_losses: float
    true_nll_before: float
    true_nll_after: float


def run_pipeline(root: Path, idm_steps: int, bc_steps: int, n_labelled: int = 10, n_frames: int = 192) -> PipelineFigures:
    torch.manual_seed(0)
    write_synthetic_dataset(root / "labelled", n_labelled, n_frames, seed=1)
    write_synthetic_dataset(root / "unlabelled", 2, n_frames, seed=2)
    truth = root / "truth"
    truth.mkdir()
    for jsonl in (root / "unlabelled").glob("*.jsonl"):  # hide the true actions
        shutil.move(jsonl, truth / jsonl.name)

    # 1. the IDM
    idm = train_idm(IDMTrainingConfig(
        data=str(root / "labelled"), out_dir=str(root / "idm"), model="tiny", window=16, batch_size=8, epochs=10_000,
        max_steps=idm_steps, lr=1e-3, val_fraction=0.2, shuffle_buffer=16, progress=False, log_formats=("csv",),
        checkpoint_every=0, seed=0,
    ))  # fmt: skip
    assert idm.metrics is not None

    # 2. pseudo-labels
    labeller = IDMLabeller(idm.idm)
    report = label_directory(root / "unlabelled", labeller, root / "labels", window=16, stride=8,
                             resolution=labeller.resolution, progress=False)  # fmt: skip
    assert not report.failed and len(report.labelled) == 2
    pred_b, pred_c, true_b, true_c = [], [], [], []
    for video in sorted((root / "unlabelled").glob("*.mp4")):
        for jsonl_root, out_b, out_c in ((root / "labels", pred_b, pred_c), (truth, true_b, true_c)):
            pair = ContractorPair(video, jsonl_root / f"{video.stem}.jsonl")
            actions = [a for chunk in read_pair(pair, resolution=32, drop_null="none") for a in chunk.env_actions]
            b, c = env_action_arrays(actions)
            out_b.append(b), out_c.append(c)
    pred_b, true_b = np.concatenate(pred_b), np.concatenate(true_b)
    q = CameraQuantizer()
    pred_bins, true_bins = q.discretize(np.concatenate(pred_c)), q.discretize(np.concatenate(true_c))
    attack = BUTTONS.index("attack")

    # 3. BC on the pseudo-labels (null steps dropped, as for real data)
    pairs_true = [ContractorPair(v, truth / f"{v.stem}.jsonl") for v in sorted((root / "unlabelled").glob("*.mp4"))]
    torch.manual_seed(0)
    before = evaluate_bc(VPTPolicyNet("tiny"), pairs_true, batch_size=2, chunk_len=8)
    bc = train_bc(BCConfig(
        data=str(root / "unlabelled"), labels=str(root / "labels"), out_dir=str(root / "bc"), policy="tiny",
        batch_size=2, chunk_len=8, epochs=10_000, max_steps=bc_steps, lr=1e-3, progress=False,
        log_formats=("csv",), checkpoint_every=0, seed=0,
    ))  # fmt: skip
    after = evaluate_bc(bc.policy, pairs_true, batch_size=2, chunk_len=8)
    figures = PipelineFigures(
        metrics=idm.metrics,
        attack_agreement=float((pred_b[:, attack] == true_b[:, attack]).mean()),
        camera_bin_agreement=float((pred_bins == true_bins).mean()),
        button_agreement=float((pred_b == true_b).mean()),
        bc_first_losses=float(np.mean(bc.losses[:3])),
        bc_last_losses=float(np.mean(bc.losses[-3:])),
        true_nll_before=before,
        true_nll_after=after,
    )
    print(
        f"\nIDM held-out ({idm_steps} steps): key accuracy {figures.metrics.key_accuracy:.3f} "
        f"(majority baseline {figures.metrics.baseline_key_accuracy:.3f}), attack accuracy "
        f"{figures.metrics.per_button_accuracy['attack']:.3f}, camera bin accuracy "
        f"{figures.metrics.camera_bin_accuracy:.3f} (chance 0.2), camera R^2 {figures.metrics.camera_r2:.3f}\n"
        f"pseudo-labels vs truth: attack {figures.attack_agreement:.3f}, all 20 buttons "
        f"{figures.button_agreement:.3f}, camera bins {figures.camera_bin_agreement:.3f}\n"
        f"BC ({bc_steps} steps): loss {figures.bc_first_losses:.2f} -> {figures.bc_last_losses:.2f}; NLL of the "
        f"true actions {before:.2f} -> {after:.2f}"
    )
    return figures


def test_pipeline_learns_end_to_end_short(tmp_path: Path) -> None:
    f = run_pipeline(tmp_path, idm_steps=150, bc_steps=25)
    assert f.metrics.per_button_accuracy["attack"] >= 0.9  # chance (majority) is about 0.6
    assert f.metrics.key_accuracy > f.metrics.baseline_key_accuracy
    assert f.attack_agreement >= 0.9
    assert f.button_agreement >= 0.98
    assert f.bc_last_losses < f.bc_first_losses - 1.0
    assert f.true_nll_after < f.true_nll_before - 1.0


@pytest.mark.slow
def test_pipeline_learns_end_to_end_long(tmp_path: Path) -> None:
    f = run_pipeline(tmp_path, idm_steps=1000, bc_steps=60)
    assert f.metrics.per_button_accuracy["attack"] >= 0.95
    assert f.metrics.camera_bin_accuracy >= 0.55  # chance 0.2 (5 bins used)
    assert f.metrics.camera_r2 >= 0.4  # 0 = predicting the mean
    assert f.attack_agreement >= 0.95
    assert f.camera_bin_agreement >= 0.55
    assert f.bc_last_losses < f.bc_first_losses - 2.0
    assert f.true_nll_after < f.true_nll_before - 2.0
