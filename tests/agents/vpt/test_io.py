"""Official .model/.weights files (safe loading, strict keys), safetensors export, from_pretrained."""

from __future__ import annotations

import pickle

import pytest
import torch

from agents.checkpoints import CheckpointError, ForbiddenGlobalError, KeyMismatchError
from agents.vpt import io as vpt_io
from agents.vpt.config import IDM_PRESETS, POLICY_PRESETS, PolicyConfig
from agents.vpt.gym3_types import DictType, Discrete, TensorType, to_plain
from agents.vpt.idm import IDMNetwork
from agents.vpt.io import (
    config_from_model_file,
    from_pretrained,
    load_official,
    load_pretrained,
    read_model_file,
    save_pretrained,
)
from agents.vpt.policy import VPTPolicyNet
from tests.support.vpt_files import (
    write_model_file,
    write_tampered_model_file,
    write_tampered_weights_file,
    write_weights_file,
)

TINY = POLICY_PRESETS["tiny"]


def _random_policy(seed=0, config=TINY):
    torch.manual_seed(seed)
    net = VPTPolicyNet(config).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        net.value_head.normalizer.debiasing_term.fill_(0.3)
    return net


def _frames(b=2, t=5, size=32):
    return torch.randint(0, 256, (b, t, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(7))


def _same_outputs(a, b, obs):
    with torch.no_grad():
        oa, _ = a(obs)
        ob, _ = b(obs)
    for k in oa.logp:
        assert torch.equal(oa.logp[k], ob.logp[k])
    assert torch.equal(a.value(oa.vpred), b.value(ob.vpred))


@pytest.mark.parametrize("protocol", [0, 2, pickle.DEFAULT_PROTOCOL])
def test_official_policy_files_round_trip(tmp_path, protocol):
    net = _random_policy()
    model = write_model_file(tmp_path / "tiny.model", TINY, protocol=protocol)
    weights = write_weights_file(tmp_path / "tiny.weights", net)
    loaded = load_official(model, weights)
    assert isinstance(loaded, VPTPolicyNet) and loaded.config == TINY
    _same_outputs(net, loaded, _frames())


def test_model_file_gym3_objects_become_plain_data(tmp_path):
    data = read_model_file(write_model_file(tmp_path / "tiny.model", TINY))
    ac = data["extra_args"]["ac_space"]
    assert isinstance(ac, DictType)
    assert ac["buttons"] == _tensor(8641, (1,)) and ac["camera"] == _tensor(121, (1,))
    assert to_plain(ac)["n2t"]["camera"] == {
        "type": "TensorType",
        "eltype": {"type": "Discrete", "n": 121, "dtype_name": "int64"},
        "shape": [1],
    }
    assert data["model"]["args"]["pi_head_opts"] == {"temperature": 2.0}


def _tensor(n, shape):
    d, t = Discrete.__new__(Discrete), TensorType.__new__(TensorType)
    d.__setstate__({"n": n, "dtype_name": "int64"})
    t.__setstate__({"eltype": d, "shape": shape})
    return t


def test_official_idm_files_round_trip(tmp_path):
    cfg = IDM_PRESETS["tiny"]
    torch.manual_seed(0)
    net = IDMNetwork(cfg).eval()
    loaded = load_official(
        write_model_file(tmp_path / "idm.model", cfg), write_weights_file(tmp_path / "idm.weights", net)
    )
    assert isinstance(loaded, IDMNetwork) and loaded.config == cfg
    obs = _frames(1, cfg.timesteps)
    with torch.no_grad():
        a, b = net(obs), loaded(obs)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_tampered_model_file_is_rejected_without_running(tmp_path):
    marker = tmp_path / "command_ran"
    path = write_tampered_model_file(tmp_path / "evil.model", TINY, marker)
    with pytest.raises(ForbiddenGlobalError) as err:
        config_from_model_file(path)
    assert err.value.global_name.endswith(".system") and "evil.model" in str(err.value)
    assert not marker.exists()


def test_tampered_weights_file_is_rejected_without_running(tmp_path):
    marker = tmp_path / "command_ran"
    model = write_model_file(tmp_path / "tiny.model", TINY)
    weights = write_tampered_weights_file(tmp_path / "tiny.weights", _random_policy(), marker)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_official(model, weights)
    assert not marker.exists()


def test_truncated_files_give_clear_errors(tmp_path):
    model = write_model_file(tmp_path / "tiny.model", TINY)
    weights = write_weights_file(tmp_path / "tiny.weights", _random_policy())
    data = model.read_bytes()
    (tmp_path / "cut.model").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.model.*truncated or corrupt"):
        load_official(tmp_path / "cut.model", weights)
    data = weights.read_bytes()
    (tmp_path / "cut.weights").write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="cut.weights.*truncated or corrupt"):
        load_official(model, tmp_path / "cut.weights")
    (tmp_path / "junk.model").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointError, match="not a VPT .model file"):
        load_official(tmp_path / "junk.model", weights)


def test_strict_key_mismatch_lists_keys(tmp_path):
    model = write_model_file(tmp_path / "tiny.model", TINY)
    sd = dict(_random_policy().state_dict())
    sd.pop("net.final_ln.bias")
    sd["net.pre_lstm_ln.weight"] = torch.ones(64)
    torch.save(sd, tmp_path / "bad.weights")
    with pytest.raises(KeyMismatchError) as err:
        load_official(model, tmp_path / "bad.weights")
    assert err.value.missing == ["net.final_ln.bias"]
    assert err.value.unexpected == ["net.pre_lstm_ln.weight"]
    # weights of another size: shape mismatches are listed too
    bigger = _random_policy(config=PolicyConfig.from_dict({**TINY.to_dict(), "hidsize": 128}))
    write_weights_file(tmp_path / "big.weights", bigger)
    with pytest.raises(KeyMismatchError, match="net.final_ln.weight: file \\(128,\\) vs model \\(64,\\)"):
        load_official(model, tmp_path / "big.weights")


def test_unsupported_model_kwargs_are_refused(tmp_path):
    net_args, pi = TINY.to_official()
    net_args["recurrence_type"] = "multi_layer_lstm"
    data = {"version": 1, "model": {"args": {"net": {"args": net_args}, "pi_head_opts": pi}}}
    (tmp_path / "lstm.model").write_bytes(pickle.dumps(data))
    with pytest.raises(CheckpointError, match="recurrence_type"):
        config_from_model_file(tmp_path / "lstm.model")


def test_action_space_in_model_file_must_match(tmp_path):
    cfg = PolicyConfig.from_dict({**TINY.to_dict(), "n_camera": 7})
    path = write_model_file(tmp_path / "odd.model", cfg)
    with pytest.raises(CheckpointError, match="action space"):
        config_from_model_file(path)


def test_safetensors_export_import_is_exact(tmp_path):
    net = _random_policy(3)
    save_pretrained(net, tmp_path / "export")
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    loaded = load_pretrained(tmp_path / "export")
    assert loaded.config == net.config
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    _same_outputs(net, loaded, _frames())
    idm = IDMNetwork("tiny")
    save_pretrained(idm, tmp_path / "idm")
    assert isinstance(load_pretrained(tmp_path / "idm"), IDMNetwork)


def test_corrupt_export_is_a_clear_error(tmp_path):
    save_pretrained(_random_policy(), tmp_path / "e")
    f = tmp_path / "e" / "model.safetensors"
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or corrupt safetensors"):
        load_pretrained(tmp_path / "e")
    (tmp_path / "e" / "config.json").write_text('{"kind": "something"}')
    with pytest.raises(CheckpointError, match="config kind"):
        load_pretrained(tmp_path / "e")


def test_from_pretrained_paths(tmp_path):
    net = _random_policy(4)
    save_pretrained(net, tmp_path / "ours")
    _same_outputs(net, VPTPolicyNet.from_pretrained(str(tmp_path / "ours")), _frames())
    pair = tmp_path / "pair"
    pair.mkdir()
    write_model_file(pair / "x.model", TINY)
    write_weights_file(pair / "x.weights", net)
    _same_outputs(net, from_pretrained(pair), _frames())
    _same_outputs(net, from_pretrained(pair / "x.weights"), _frames())
    with pytest.raises(FileNotFoundError, match="neither a released VPT name"):
        from_pretrained(tmp_path / "nothing")
    with pytest.raises(ValueError, match="not a VPTPolicyNet"):
        save_pretrained(IDMNetwork("tiny"), tmp_path / "idm")
        VPTPolicyNet.from_pretrained(str(tmp_path / "idm"))


def test_released_table_pairs_weights_with_model_of_same_width():
    for name, entry in vpt_io.RELEASED.items():
        width = name.rsplit("-", 1)[-1] if name != "4x-idm" else "4x"
        assert width in entry.model_file and width in entry.weights_file, name
