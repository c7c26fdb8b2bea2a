"""Tampered configs, trainer states and optimizer states fail at load time with CheckpointError naming
what is wrong (not ZeroDivisionError / TypeError / KeyError / RuntimeError, nor a crash at the first step)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from agents.checkpoints import CheckpointError
from agents.vpt.config import POLICY_PRESETS
from agents.vpt.idm import IDMNetwork
from agents.vpt.io import config_from_model_file, load_pretrained, save_pretrained
from agents.vpt.policy import VPTPolicyNet
from agents.vpt.training_run import load_checkpoint, save_checkpoint


@pytest.mark.parametrize("key, value, message", [
    ("attention_heads", 0, "attention_heads must be an integer >= 1; got 0"),
    ("hidsize", None, "hidsize must be an integer >= 1; got None"),
    ("hidsize", 64.5, "hidsize must be an integer >= 1; got 64.5"),
    ("impala_chans", 5, "wrongly typed or missing config entry"),
    ("impala_chans", [16, 0, 32], r"impala_chans\[i\] must be an integer >= 1; got 0"),
    ("temperature", "hot", "temperature must be a finite number > 0"),
    ("temperature", float("nan"), "temperature must be a finite number > 0; got nan"),
    ("use_pre_lstm_ln", 3, "use_pre_lstm_ln must be true or false"),
    ("action_space", 7, "action_space must be a string"),
])
def test_tampered_config_json_is_a_checkpoint_error(tmp_path: Path, key: str, value: object, message: str) -> None:
    save_pretrained(VPTPolicyNet("tiny"), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config[key] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        load_pretrained(tmp_path)


@pytest.mark.parametrize("key, value, message", [
    ("img_shape", 5, "TypeError"),
    ("hidsize", None, "TypeError"),
    ("attention_heads", 0, "attention_heads must be an integer >= 1; got 0"),
    ("timesteps", "x", "invalid literal for int"),
])
def test_tampered_model_file_is_a_checkpoint_error(tmp_path: Path, key: str, value: object, message: str) -> None:
    net_args, pi = POLICY_PRESETS["tiny"].to_official()
    net_args[key] = value
    data = {"version": 1, "model": {"args": {"net": {"args": net_args}, "pi_head_opts": pi}}}
    (tmp_path / "x.model").write_bytes(pickle.dumps(data))
    with pytest.raises(CheckpointError, match=message):
        config_from_model_file(tmp_path / "x.model")


def _checkpoint(tmp_path: Path) -> tuple[Path, IDMNetwork, torch.optim.AdamW]:
    torch.manual_seed(0)
    net = IDMNetwork("tiny")
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    out = net(torch.zeros(1, 2, 32, 32, 3, dtype=torch.uint8))
    sum(v.sum() for v in out.values()).backward()
    opt.step()
    path = save_checkpoint(tmp_path, net, opt, {"step": 1, "epoch": 0, "batches_in_epoch": 1, "config": {}})
    return path, net, opt


@pytest.mark.parametrize("state, message", [
    ([1, 2], "JSON object, got list"),
    ({"step": "7", "epoch": 0, "batches_in_epoch": 0, "config": {}}, "'step' must be a non-negative integer, got a str"),
    ({"step": -1, "epoch": 0, "batches_in_epoch": 0, "config": {}}, r"'step' must be a non-negative integer, got a int \(-1\)"),
    ({"step": 3, "config": {}}, r"no \['epoch', 'batches_in_epoch'\] entries"),
    ({"step": 3, "epoch": 0, "batches_in_epoch": 0.5, "config": {}}, "'batches_in_epoch' must be a non-negative"),
    ({"step": 3, "epoch": 0, "batches_in_epoch": 0, "config": []}, "'config' must be a JSON object"),
])
def test_trainer_state_with_wrong_fields(tmp_path: Path, state: object, message: str) -> None:
    path, _, _ = _checkpoint(tmp_path)
    (path / "trainer_state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path, IDMNetwork("tiny"), required=("epoch", "batches_in_epoch", "config"))


def test_adam_moments_of_the_wrong_shape_fail_at_load_not_at_the_first_step(tmp_path: Path) -> None:
    path, net, _ = _checkpoint(tmp_path)
    tensors = load_file(str(path / "optimizer.safetensors"))
    key = next(k for k in tensors if k.endswith(".exp_avg") and tensors[k].dim() > 1)
    tensors[key] = tensors[key].flatten()[:-1].clone()
    save_file(tensors, str(path / "optimizer.safetensors"))
    fresh = IDMNetwork("tiny")
    with pytest.raises(CheckpointError, match=f"optimizer tensor '{key}' has shape"):
        load_checkpoint(path, fresh, torch.optim.AdamW(fresh.parameters(), lr=1e-3))


@pytest.mark.parametrize("pid", ["x", "-1", "100000"])
def test_optimizer_state_naming_a_parameter_that_is_not_there(tmp_path: Path, pid: str) -> None:
    path, _, _ = _checkpoint(tmp_path)
    plain = json.loads((path / "optimizer.json").read_text())
    plain["state"][pid] = plain["state"].pop("0")
    (path / "optimizer.json").write_text(json.dumps(plain))
    fresh = IDMNetwork("tiny")
    with pytest.raises(CheckpointError, match="optimizer state names parameter .*expected an integer id"):
        load_checkpoint(path, fresh, torch.optim.AdamW(fresh.parameters(), lr=1e-3))


def test_a_torch_rng_state_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path, _, _ = _checkpoint(tmp_path)
    extra = load_file(str(path / "extra.safetensors"))
    extra["torch_rng_state"] = extra["torch_rng_state"][:10].clone()
    save_file(extra, str(path / "extra.safetensors"))
    with pytest.raises(CheckpointError, match="torch_rng_state is torch.uint8 \\(10,\\)"):
        load_checkpoint(path, IDMNetwork("tiny"))
