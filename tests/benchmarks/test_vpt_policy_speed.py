"""Smoke test of benchmarks/vpt_policy_speed.py on the tiny preset (no timing assertions)."""

from __future__ import annotations

import pytest
import torch

from agents.vpt.policy import VPTPolicyNet
from benchmarks.vpt_policy_speed import (
    COMPONENTS,
    MODES,
    load_note,
    main,
    non_uniform_policy,
    ReferencePolicy,
    measure,
    smooth_frames,
    time_interleaved,
)


MODE_NAMES = ("fp32", "fp32-fast", "bf16", "fast", "fast-bf16-cnn")


def test_measure_rows_on_tiny_preset():
    rows = measure("tiny", batches=(1, 2), steps=1, warmup=1, no_cache_steps=1, accuracy_steps=2)
    speed = [r for r in rows if r["kind"] in ("cached", "no cache (8-frame window)")]
    assert {(r["mode"], r["kind"], r["batch"]) for r in speed} == {
        (m, k, b) for m in MODE_NAMES for k, b in (("cached", 1), ("cached", 2), ("no cache (8-frame window)", 1))
    }
    # no reference measured and not the 1x preset: no reference ratio
    assert all(r["ms_per_call"] > 0 and r["vs_reference"] is None for r in speed)
    assert all(r["vs_fp32"] == 1.0 for r in speed if r["mode"] == "fp32")
    # the float32 encoder alone, timed beside the modes at every batch, against fp32's whole step
    enc = {r["batch"]: r for r in rows if r["kind"] == "encoder only"}
    assert set(enc) == {1, 2} and all(r["mode"] == "fp32 encoder" and r["ms_per_call"] > 0 for r in enc.values())
    full = {r["batch"]: r["ms_per_call"] for r in speed if r["mode"] == "fp32" and r["kind"] == "cached"}
    assert all(enc[b]["vs_fp32"] == pytest.approx(full[b] / enc[b]["ms_per_call"]) for b in (1, 2))
    acc = {r["mode"]: r for r in rows if r["kind"] == "accuracy"}
    assert set(acc) == set(MODE_NAMES[1:])
    for r in acc.values():
        assert 0 < r["max_abs_logp"] < 2 and 0 <= r["argmax_agree"] <= 1
        assert -1e-6 <= r["mean_kl"] <= r["max_kl"] + 1e-9 and r["max_kl"] < 0.05
        # measured on the non-uniform network, not on near-uniform outputs
        assert r["fp32_max_prob_buttons"] > 0.05 and r["fp32_entropy_buttons"] < 7
    # float32 fast mode: last bits only; the bfloat16 image encoder: the largest error
    assert acc["fp32-fast"]["max_abs_logp"] < 1e-3 < acc["fast"]["max_abs_logp"] < acc["fast-bf16-cnn"]["max_abs_logp"]
    comp = {r["component"]: r for r in rows if r["kind"] == "component"}
    assert set(comp) == set(COMPONENTS) | {"image encoder, all of it (norms, residuals)"}
    assert all(r["max_abs_logp"] > 0 for r in comp.values())
    assert not [r for r in rows if r["kind"] == "parity"]


def test_non_uniform_policy_scales_only_the_heads_beyond_the_noise():
    net = non_uniform_policy("tiny", seed=0, weight_noise=0.0, head_scale=3.0)
    torch.manual_seed(0)
    plain = VPTPolicyNet("tiny")
    for (k, a), b in zip(net.state_dict().items(), plain.state_dict().values()):
        assert torch.equal(a, b * 3.0 if k.startswith("pi_head.") else b), k


def test_load_note_names_the_wait_policy(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    note = load_note()
    assert "OMP_WAIT_POLICY=ACTIVE" in note and "load average" in note and "set OMP_WAIT_POLICY=PASSIVE" in note
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert "WARNING" not in load_note()


def test_tiny_preset_says_it_is_not_the_1x_figure(capsys):
    main(["--preset", "tiny", "--steps", "1", "--warmup", "0", "--no-cache-steps", "1", "--accuracy-steps", "1",
          "--no-components", "--batch", "1"])
    out = capsys.readouterr().out
    assert "NOT the 1x figures" in out and "OMP_WAIT_POLICY=" in out and "max-prob" in out


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


def test_smoke_suite_rows_say_they_are_not_the_1x_figure(monkeypatch):
    import benchmarks.perf as perf
    import benchmarks.vpt_policy_speed as speed

    calls = []

    def fake_measure(**kwargs):
        calls.append(kwargs)
        return [{"mode": "fp32", "kind": "cached", "batch": 1, "ms_per_call": 1.0}]

    monkeypatch.setattr(speed, "measure", fake_measure)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    quick = perf.MEASUREMENTS["vpt_policy_speed"](True)
    assert calls[0]["preset"] == "tiny"
    assert "NOT the 1x figure" in quick[0]["note"] and quick[0]["omp_wait_policy"] == "PASSIVE"
    full = perf.MEASUREMENTS["vpt_policy_speed"](False)
    assert calls[1]["preset"] == "1x" and "note" not in full[0] and full[0]["preset"] == "1x"


@pytest.mark.parametrize("flag", ["--steps", "--threads", "--batch", "--accuracy-steps"])
def test_counts_below_one_are_refused_before_anything_runs(flag, capsys):
    from benchmarks import vpt_policy_speed

    with pytest.raises(SystemExit) as exit_:
        vpt_policy_speed.main([flag, "0"])
    assert exit_.value.code == 2 and flag in capsys.readouterr().err
