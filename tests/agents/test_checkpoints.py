"""The restricted unpickler and the safetensors/JSON/torch helpers of agents.checkpoints."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from agents.checkpoints import (
    CheckpointError,
    ForbiddenGlobalError,
    KeyMismatchError,
    check_state_dict,
    load_json,
    load_safetensors,
    load_state_dict_strict,
    load_torch_state_dict,
    restricted_load,
    restricted_loads,
    save_json,
    save_safetensors,
    sha256_file,
)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Point:
    pass


def test_plain_data_round_trips_without_any_allowed_globals():
    data = {"a": [1, 2.5, "x", None, True], "b": (1, (2, 3)), "c": {"d": b"bytes"}, "s": {1, 2}}
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        assert restricted_loads(pickle.dumps(data, protocol=protocol), allowed={}) == data


def test_forbidden_global_is_named_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"ok": 1, "x": _Evil(marker)})
    with pytest.raises(ForbiddenGlobalError) as err:
        restricted_loads(payload, allowed={}, source="evil.model")
    assert err.value.global_name in ("posix.system", "os.system", "nt.system")
    assert "evil.model" in str(err.value) and err.value.global_name in str(err.value)
    assert not marker.exists()
    # plain pickle really would have run it: the test's payload is a genuine exploit
    pickle.loads(payload)
    assert marker.exists()


def test_allow_list_maps_names_to_safe_objects():
    # a pickle naming tests...Point resolves to whatever the allow-list says, not to the real class
    payload = pickle.dumps(Point)
    sentinel = object()
    got = restricted_loads(payload, allowed={(Point.__module__, "Point"): sentinel})
    assert got is sentinel
    with pytest.raises(ForbiddenGlobalError, match="Point"):
        restricted_loads(payload, allowed={})


@pytest.mark.parametrize("cut", [1, 5, -1])
def test_truncated_pickle_is_a_clear_error(tmp_path, cut):
    data = pickle.dumps({"model": {"args": list(range(50))}})
    path = tmp_path / "x.model"
    path.write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        restricted_load(path, allowed={})


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.model"):
        restricted_load(tmp_path / "nope.model", allowed={})


def test_torch_state_dict_weights_only(tmp_path):
    sd = {"a.weight": torch.randn(3, 4), "b": torch.arange(5)}
    torch.save(sd, tmp_path / "w.weights")
    got = load_torch_state_dict(tmp_path / "w.weights")
    assert set(got) == set(sd) and all(torch.equal(got[k], sd[k]) for k in sd)


def test_torch_checkpoint_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"a": torch.zeros(1), "evil": _Evil(marker)}, tmp_path / "w.weights")
    with pytest.raises(CheckpointError, match="weights_only"):
        load_torch_state_dict(tmp_path / "w.weights")
    assert not marker.exists()


def test_truncated_torch_checkpoint(tmp_path):
    torch.save({"a": torch.randn(100, 100)}, tmp_path / "w.weights")
    data = (tmp_path / "w.weights").read_bytes()
    (tmp_path / "w.weights").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_torch_state_dict(tmp_path / "w.weights")


def test_torch_file_that_is_not_a_state_dict(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / "w.weights")
    with pytest.raises(CheckpointError, match="expected a state dict"):
        load_torch_state_dict(tmp_path / "w.weights")


def test_safetensors_round_trip_is_exact(tmp_path):
    sd = {"x": torch.randn(7, 3), "y": torch.randn(2, 2).t(), "z": torch.tensor(1.5), "i": torch.arange(4)}
    save_safetensors(tmp_path / "m.safetensors", sd)
    got = load_safetensors(tmp_path / "m.safetensors")
    assert set(got) == set(sd)
    for k in sd:
        assert got[k].dtype == sd[k].dtype and torch.equal(got[k], sd[k])


def test_corrupt_safetensors(tmp_path):
    save_safetensors(tmp_path / "m.safetensors", {"x": torch.randn(100)})
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_safetensors(tmp_path / "m.safetensors")
    (tmp_path / "m.safetensors").write_bytes(b"\xff" * 5)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_safetensors(tmp_path / "m.safetensors")


def test_json_helpers(tmp_path):
    save_json(tmp_path / "c.json", {"a": 1, "b": [1, 2]})
    assert load_json(tmp_path / "c.json") == {"a": 1, "b": [1, 2]}
    (tmp_path / "c.json").write_text('{"a": 1,')
    with pytest.raises(CheckpointError, match="corrupt JSON"):
        load_json(tmp_path / "c.json")
    (tmp_path / "c.json").write_text("[1]")
    with pytest.raises(CheckpointError, match="JSON object"):
        load_json(tmp_path / "c.json")


def test_key_mismatch_lists_keys():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    sd = dict(net.state_dict())
    sd.pop("1.bias")
    sd["extra.weight"] = torch.zeros(1)
    sd["0.weight"] = torch.zeros(4, 2)
    with pytest.raises(KeyMismatchError) as err:
        load_state_dict_strict(net, sd, source="f.weights")
    e = err.value
    assert e.missing == ["1.bias"] and e.unexpected == ["extra.weight"]
    assert e.mismatched == {"0.weight": ((4, 2), (3, 2))}
    for text in ("f.weights", "1.bias", "extra.weight", "0.weight"):
        assert text in str(e)
    check_state_dict(net.state_dict(), net.state_dict())  # no error when they match


def test_sha256(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256_file(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
