"""Smoke test of benchmarks/vpt_policy_speed.py on the tiny preset (no timing assertions)."""

from __future__ import annotations

from benchmarks.vpt_policy_speed import measure, smooth_frames


def test_measure_rows_on_tiny_preset():
    rows = measure("tiny", batches=(1, 2), steps=1, warmup=1, no_cache_steps=1, accuracy_steps=2)
    speed = [r for r in rows if r["kind"] != "accuracy"]
    assert {(r["mode"], r["kind"], r["batch"]) for r in speed} == {
        (m, k, b) for m in ("fp32", "bf16") for k, b in (("cached", 1), ("cached", 2), ("no cache (8-frame window)", 1))
    }
    assert all(r["ms_per_call"] > 0 and r["vs_reference"] is None for r in speed)
    assert all(r["vs_fp32"] == 1.0 for r in speed if r["mode"] == "fp32")
    (acc,) = [r for r in rows if r["kind"] == "accuracy"]
    assert acc["mode"] == "bf16" and 0 < acc["max_abs_logp"] < 1 and 0 <= acc["argmax_agree"] <= 1


def test_smooth_frames():
    f = smooth_frames(3, 32)
    assert f.shape == (3, 32, 32, 3) and f.dtype.name == "uint8"
