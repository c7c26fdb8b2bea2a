"""The VPT policy and IDM with Crafter's 17-way action head: config field, shapes, log-probs, temperature, I/O."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch.nn import functional as F

from agents.vpt.config import CRAFTER_IDM, CRAFTER_POLICY, IDM_PRESETS, POLICY_PRESETS, IDMConfig, PolicyConfig
from agents.vpt.heads import DiscreteActionHead
from agents.vpt.idm import IDMNetwork
from agents.vpt.io import load_pretrained, save_pretrained
from agents.vpt.policy import VPTPolicyNet
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: A Crafter policy small enough for fast tests (32x32 frames).
SMALL = dataclasses.replace(POLICY_PRESETS["tiny"], action_space="crafter")
SMALL_IDM = dataclasses.replace(IDM_PRESETS["tiny"], action_space="crafter")


def test_action_space_field_defaults_to_minecraft_and_is_saved():
    assert PolicyConfig().action_space == "minecraft" and IDMConfig().action_space == "minecraft"
    d = CRAFTER_POLICY.to_dict()
    assert d["action_space"] == "crafter" and PolicyConfig.from_dict(d) == CRAFTER_POLICY
    assert IDMConfig.from_dict(CRAFTER_IDM.to_dict()) == CRAFTER_IDM
    old = {k: v for k, v in POLICY_PRESETS["tiny"].to_dict().items() if k != "action_space"}  # a config saved before
    assert PolicyConfig.from_dict(old).action_space == "minecraft"
    with pytest.raises(ValueError, match=r"action_space must be one of \('minecraft', 'crafter'\), got 'atari'"):
        PolicyConfig(action_space="atari")
    with pytest.raises(ValueError, match="action_space must be one of"):
        IDMConfig(action_space="Crafter")
    with pytest.raises(ValueError, match="official .model format only describes Minecraft heads"):
        CRAFTER_POLICY.to_official()
    with pytest.raises(ValueError, match="official .model format only describes Minecraft heads"):
        CRAFTER_IDM.to_official()


def test_discrete_head_is_a_tempered_log_softmax():
    torch.manual_seed(0)
    head = DiscreteActionHead(8, 17, temperature=2.0)
    x = torch.randn(3, 5, 8)
    logp = head(x)["action"]
    expected = F.log_softmax(head.action.linear_layer(x) / 2.0, dim=-1)
    torch.testing.assert_close(logp, expected)
    actions = torch.randint(0, 17, (3, 5))
    lp = head.log_prob({"action": logp}, {"action": actions})
    torch.testing.assert_close(lp, expected.gather(-1, actions[..., None])[..., 0])
    torch.testing.assert_close(head.entropy({"action": logp}), -(expected.exp() * expected).sum(-1))
    assert torch.all(head.kl_divergence({"action": logp}, {"action": logp}).abs() < 1e-6)
    assert head.split(actions[..., None])["action"].equal(actions)
    assert head.sample({"action": logp}, deterministic=True)["action"].equal(expected.argmax(-1))
    g = torch.Generator().manual_seed(1)
    sample = head.sample({"action": logp}, generator=g)["action"]
    assert sample.shape == (3, 5) and sample.min() >= 0 and sample.max() < 17


def test_discrete_head_rejects_out_of_range_actions_and_bad_sizes():
    head = DiscreteActionHead(4, 17)
    logp = head(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"action indices must be in \[0, 17\), got values in \[0, 17\]"):
        head.log_prob(logp, {"action": torch.tensor([0, 17])})
    with pytest.raises(ValueError, match=r"action indices must be in \[0, 17\), got values in \[-1, 2\]"):
        head.log_prob(logp, {"action": torch.tensor([-1, 2])})
    with pytest.raises(ValueError, match="n >= 2"):
        DiscreteActionHead(4, 1)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        DiscreteActionHead(4, 17, temperature=0.0)


def test_policy_and_idm_share_the_body_and_differ_only_in_the_head():
    policy_mc, policy_cr = VPTPolicyNet("tiny"), VPTPolicyNet(SMALL)
    keys_mc, keys_cr = set(policy_mc.state_dict()), set(policy_cr.state_dict())
    assert {k for k in keys_mc if not k.startswith("pi_head.")} == {k for k in keys_cr if not k.startswith("pi_head.")}
    assert {k for k in keys_cr if k.startswith("pi_head.")} == {"pi_head.action.linear_layer.weight",
                                                                  "pi_head.action.linear_layer.bias"}
    out, _ = policy_cr(torch.zeros(2, 3, 32, 32, 3, dtype=torch.uint8))
    assert set(out.logp) == {"action"} and out.logp["action"].shape == (2, 3, 17) and out.vpred.shape == (2, 3)
    torch.testing.assert_close(out.logp["action"].exp().sum(-1), torch.ones(2, 3))
    idm = IDMNetwork(SMALL_IDM)
    logp = idm(torch.zeros(1, 8, 32, 32, 3, dtype=torch.uint8))
    assert set(logp) == {"action"} and logp["action"].shape == (1, 8, 17)
    assert idm.predict(torch.zeros(1, 8, 32, 32, 3, dtype=torch.uint8))["action"].shape == (1, 8)


def test_policy_temperature_applies_to_the_crafter_head():
    torch.manual_seed(0)
    cold = VPTPolicyNet(dataclasses.replace(SMALL, temperature=1.0))
    hot = VPTPolicyNet(dataclasses.replace(SMALL, temperature=3.0))
    hot.load_state_dict(cold.state_dict())
    obs = torch.randint(0, 256, (1, 2, 32, 32, 3), dtype=torch.uint8)
    out_c, _ = cold(obs)
    out_h, _ = hot(obs)
    torch.testing.assert_close(out_h.logp["action"], F.log_softmax(out_c.logp["action"] / 3.0, -1), atol=1e-5, rtol=1e-5)


def test_save_and_load_keep_the_crafter_head(tmp_path):
    torch.manual_seed(0)
    net = VPTPolicyNet(SMALL)
    save_pretrained(net, tmp_path / "p")
    assert json.loads((tmp_path / "p" / "config.json").read_text())["action_space"] == "crafter"
    back = load_pretrained(tmp_path / "p")
    assert back.config == SMALL
    obs = torch.randint(0, 256, (1, 2, 32, 32, 3), dtype=torch.uint8)
    torch.testing.assert_close(back(obs)[0].logp["action"], net(obs)[0].logp["action"])
    # a Minecraft checkpoint does not load into a Crafter network: the heads differ
    save_pretrained(VPTPolicyNet("tiny"), tmp_path / "mc")
    with pytest.raises(RuntimeError):
        net.load_state_dict(load_pretrained(tmp_path / "mc").state_dict())


def test_cli_crafter_preset_names_the_crafter_networks():
    from agents.vpt.cli import _crafter_or

    assert _crafter_or("idm", "crafter") == CRAFTER_IDM.to_dict()
    assert _crafter_or("policy", "crafter") == CRAFTER_POLICY.to_dict()
    assert _crafter_or("policy", "tiny") == "tiny"


def test_training_runs_take_a_config_dict_and_check_its_kind(tmp_path):
    from agents.vpt.labelling import label_directory
    from agents.vpt.training_run import build_network

    net = build_network(VPTPolicyNet, "VPT policy", POLICY_PRESETS, SMALL.to_dict(), None, 0)
    assert isinstance(net, VPTPolicyNet) and net.config == SMALL
    with pytest.raises(ValueError, match="has kind 'vpt_idm'; expected 'vpt_policy'"):
        build_network(VPTPolicyNet, "VPT policy", POLICY_PRESETS, SMALL_IDM.to_dict(), None, 0)
    with pytest.raises(ValueError, match="unknown action codec 'atari'"):
        label_directory(tmp_path, lambda f: f, action_codec="atari", progress=False)
