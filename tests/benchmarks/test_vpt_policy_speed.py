"""Smoke test of benchmarks/vpt_policy_speed.py on the tiny preset (no timing assertions)."""

from __future__ import annotations

import pytest

from agents.vpt.policy import VPTPolicyNet
from benchmarks.vpt_policy_speed import (
    MODES,
    ReferencePolicy,
    measure,
    smooth_frames,
    time_interleaved,
)


def test_measure_rows_on_tiny_preset():
    rows = measure("tiny", batches=(1, 2), steps=1, warmup=1, no_cache_steps=1, accuracy_steps=2)
    speed = [r for r in rows if r["kind"] not in ("accuracy", "parity")]
    assert {(r["mode"], r["kind"], r["batch"]) for r in speed} == {
        (m, k, b)
        for m in ("fp32", "bf16", "fast")
        for k, b in (("cached", 1), ("cached", 2), ("no cache (8-frame window)", 1))
    }
    # no reference measured and not the 1x preset: no reference ratio
    assert all(r["ms_per_call"] > 0 and r["vs_reference"] is None for r in speed)
    assert all(r["vs_fp32"] == 1.0 for r in speed if r["mode"] == "fp32")
    acc = {r["mode"]: r for r in rows if r["kind"] == "accuracy"}
    assert set(acc) == {"bf16", "fast"}
    for r in acc.values():
        assert 0 < r["max_abs_logp"] < 1 and 0 <= r["mean_kl"] <= r["max_kl"] < 0.01 and 0 <= r["argmax_agree"] <= 1
    assert not [r for r in rows if r["kind"] == "parity"]


def test_fast_mode_is_named():
    assert MODES["fast"]["pack_weights"] and MODES["fast"]["dtype"] == "bfloat16"
    assert MODES["fast+compile"]["compile"]


def test_reference_dir_must_be_a_checkout(tmp_path):
    with pytest.raises(FileNotFoundError, match="lib/policy.py"):
        ReferencePolicy(str(tmp_path), VPTPolicyNet("tiny"))


def test_smooth_frames():
    f = smooth_frames(3, 32)
    assert f.shape == (3, 32, 32, 3) and f.dtype.name == "uint8"


def test_time_interleaved_clocks():
    calls = []
    ms = time_interleaved({"a": calls.append, "b": lambda i: sum(range(20000))}, steps=3, warmup=1, clock="cpu")
    assert calls == [0, 1, 2, 3] and set(ms) == {"a", "b"} and ms["b"] > 0
    with pytest.raises(ValueError, match="clock must be one of"):
        time_interleaved({"a": calls.append}, steps=1, warmup=0, clock="gpu")
