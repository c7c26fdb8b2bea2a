"""The bounds of agents/checkpoints.py: bounded reprs, size checks before allocating, header-vs-config checks."""
from __future__ import annotations

import pickle
import zipfile

import pytest
import torch

from agents.checkpoints import (
    CheckpointError,
    KeyMismatchError,
    bounded_repr,
    build_budget,
    check_hashable,
    check_module_against,
    check_tensor_data,
    check_zip_members,
    describe_error,
    read_safetensors_header,
    restricted_loads,
    save_safetensors,
)
from tests.support.hostile_files import allocation_pickle, hash_bomb_dict_pickle, repr_bomb


class LoudRepr:
    def __repr__(self) -> str:  # what a hostile stand-in could do
        raise AssertionError("bounded_repr must not call an unknown object's __repr__")


def test_bounded_repr_is_short_and_never_calls_foreign_reprs():
    text = bounded_repr(repr_bomb(200))
    assert len(text) <= 200 and text.startswith("[[[[")
    assert bounded_repr([LoudRepr(), 10**5000, "x" * 10_000, b"y" * 10_000]).startswith("[<LoudRepr>, <int of ")
    assert bounded_repr({"a": 1, (1, 2): [3]}) == "{'a': 1, (1, 2): [3]}"
    assert bounded_repr(torch.zeros(2, 3)) == "<tensor (2, 3) float32>"
    # a class named like a builtin (as a pickle's stand-in class can be) is not treated as one
    assert bounded_repr(type("list", (), {"__repr__": LoudRepr.__repr__})()) == "<list>"


def test_describe_error_bounds_exception_arguments():
    assert describe_error(KeyError(repr_bomb(100))).startswith("KeyError: [[[[")
    assert len(describe_error(ValueError("z" * 5000))) <= 220
    assert describe_error(OSError("disk full")) == "OSError: disk full"


def test_size_arguments_to_bytes_constructors_are_refused_before_allocating():
    with pytest.raises(CheckpointError, match=r"refusing bytearray\(8589934592\)"):
        restricted_loads(allocation_pickle("bytearray"), {})
    # rebuilding from stored data still works, in every protocol
    for protocol in range(6):
        assert restricted_loads(pickle.dumps(bytearray(b"ab\x00"), protocol=protocol), {}) == bytearray(b"ab\x00")
    # a protocol-5 BYTEARRAY8 that declares 8 GiB but stores 2 bytes: read first, never allocated
    with pytest.raises(CheckpointError, match="truncated"):
        restricted_loads(b"\x80\x05\x96" + (8 << 30).to_bytes(8, "little") + b"ab.", {})


def test_hash_bombs_are_refused_before_hashing():
    with pytest.raises(CheckpointError, match="nests more than"):
        restricted_loads(hash_bomb_dict_pickle(), {})
    t: tuple = ()
    for _ in range(64):
        t = (t, t)
    with pytest.raises(CheckpointError):
        check_hashable(t)
    assert check_hashable((1, (2, (3,)))) == (1, (2, (3,)))
    data = {(1, 2): {frozenset({1, 2}): {3}}}
    for protocol in range(6):
        assert restricted_loads(pickle.dumps(data, protocol=protocol), {}) == data


def test_self_overlapping_tensors_and_overclaimed_storage_are_refused():
    check_tensor_data({"w": torch.zeros(3, 4), "t": torch.zeros(4, 3).t(), "b": torch.zeros(1, 5)}, "ok")
    with pytest.raises(CheckpointError, match="overlaps itself"):
        check_tensor_data({"w": torch.zeros(1).expand(1000, 1000)}, "f")
    base = torch.zeros(10)
    with pytest.raises(CheckpointError, match="claim 80 bytes but only 40"):
        check_tensor_data({"a": base, "b": base}, "f")  # two names, one storage


def test_safetensors_header_is_checked_against_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_safetensors(path, {"a": torch.zeros(2, 3), "b": torch.zeros(4, dtype=torch.int64)}, {"k": "v"})
    specs, meta = read_safetensors_header(path)
    assert {k: (v.shape, v.dtype) for k, v in specs.items()} == {"a": ((2, 3), torch.float32),
                                                                 "b": ((4,), torch.int64)}
    assert meta == {"k": "v"}
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_safetensors_header(path)


def test_networks_are_checked_on_the_meta_device_before_they_are_built(tmp_path):
    small = torch.nn.Linear(3, 4)
    expected = {k: v.detach() for k, v in small.state_dict().items()}
    net = check_module_against(lambda: torch.nn.Linear(3, 4), expected, "f")
    assert net.weight.device.type == "meta"
    with pytest.raises(KeyMismatchError, match="weight: file"):
        check_module_against(lambda: torch.nn.Linear(3, 5), expected, "f")
    with pytest.raises(CheckpointError, match="larger than the file"):  # stopped while building, on meta
        check_module_against(lambda: torch.nn.Sequential(*[torch.nn.Linear(3, 3) for _ in range(10**6)]),
                             expected, "f")
    with build_budget(10, 1000, "f"), pytest.raises(CheckpointError, match=r"one tensor of shape \(100000, 100000\)"):
        torch.nn.Linear(100_000, 100_000)  # refused before torch.empty allocates 40 GB


def test_zip_members_may_not_inflate_past_the_file(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data/0", bytes(1 << 22))
    with pytest.raises(CheckpointError, match="declares 4194304 bytes uncompressed"):
        check_zip_members(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data/0", bytes(1 << 12))
    check_zip_members(path)
