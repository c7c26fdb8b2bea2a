"""Speed of the VPT policy on this machine, with and without the key/value cache, fp32 vs fast modes.

Run: ``python -m benchmarks.vpt_policy_speed`` (1x policy, random weights: speed does not depend on the
weights). ``--preset tiny --steps 3`` is a quick smoke run.

Rows:
- ``cached``: one :meth:`VPTAgent.act` call per step (one new frame per env, K/V cache of 128 frames).
- ``no cache``: what one step costs without the cache: a forward over the whole 128-frame window.
- Modes: ``fp32`` (numerically the reference: bit-identical outputs in our parity runs), ``bf16``
  (image encoder in bfloat16, channels-last, fused attention; the rest float32), ``bf16+compile``
  (the same plus ``torch.compile`` of the CNN; opt-in with ``--compile``).
Ratios are against the ``fp32`` rows measured in the same run, and against the reference's figures from
``shared/specs/vpt.md`` section 11 (28 ms/step at batch 1, 143 ms/call at batch 8, measured on a quiet
2-core machine of this kind; shown only for the 1x preset at 2 torch threads). On a busy machine
``--threads 1`` gives steadier ratios: two OpenMP threads competing with other processes for two cores
slow small batch-1 kernels down erratically. The accuracy table compares the fast modes' action log-probabilities with
fp32 along the same rollout (each mode keeps its own cache).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.vpt.agent import VPTAgent
from agents.vpt.policy import VPTPolicyNet
from benchmarks.timing import machine_description

#: Reference (openai/Video-Pre-Training, fp32, torch 2.13) per-call times on these machines, spec section 11.
REFERENCE_MS = {1: 28.0, 8: 143.0}

MODES: dict[str, dict] = {
    "fp32": {},
    "bf16": {"dtype": "bfloat16", "channels_last": True, "fused_attention": True},
    "bf16+compile": {"dtype": "bfloat16", "channels_last": True, "fused_attention": True, "compile": True},
}


def smooth_frames(n: int, size: int, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 frames that look more like images than white noise (upsampled 8x8 noise)."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (n, 8, 8, 3)).astype(np.float32)
    idx = np.linspace(0, 7, size)
    i0 = np.floor(idx).astype(int)
    i1 = np.minimum(i0 + 1, 7)
    w = (idx - i0)[None, :, None, None]
    rows = low[:, i0] * (1 - w) + low[:, i1] * w
    w = (idx - i0)[None, None, :, None]
    img = rows[:, :, i0] * (1 - w) + rows[:, :, i1] * w
    return img.clip(0, 255).astype(np.uint8)


def time_interleaved(fns: dict[str, Callable[[int], None]], steps: int, warmup: int) -> dict[str, float]:
    """Median milliseconds per call of each ``fn(i)``, the functions called in turn within each step so
    that load from other processes hits every mode alike. ``warmup`` untimed rounds first."""
    for i in range(warmup):
        for fn in fns.values():
            fn(i)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(steps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(warmup + i)
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t) * 1000) for name, t in times.items()}


def cached_step(agent: VPTAgent, batch: int, frames: np.ndarray) -> Callable[[int], None]:
    """One :meth:`VPTAgent.act` call on ``batch`` envs (state kept by the agent)."""
    agent.reset_state(batch)
    n = len(frames)

    def step(i: int) -> None:
        agent.act(frames[(i * batch + np.arange(batch)) % n])

    return step


def uncached_step(agent: VPTAgent, window: int, frames: np.ndarray) -> Callable[[int], None]:
    """What a step costs without the cache: a forward over the whole ``window`` for the newest frame."""
    obs = torch.as_tensor(frames[:window])[None]  # (1, window, S, S, 3)

    def step(_: int) -> None:
        with torch.inference_mode():
            agent.policy(obs)

    return step


def accuracy(fast: VPTAgent, ref: VPTAgent, frames: np.ndarray, batch: int, steps: int) -> dict[str, float]:
    """Max |logp diff| over all classes, KL(fp32 || fast) and the chosen action's |logp diff|."""
    ref.reset_state(batch)
    fast.reset_state(batch)
    max_abs, kl, act_diff, agree = 0.0, [], 0.0, []
    for i in range(steps):
        obs = frames[(i * batch + np.arange(batch)) % len(frames)]
        r, _ = ref.evaluate(obs)
        f, _ = fast.evaluate(obs)
        rl = {k: v[:, 0] for k, v in r.logp.items()}
        fl = {k: v[:, 0] for k, v in f.logp.items()}
        max_abs = max(max_abs, max((rl[k] - fl[k]).abs().max().item() for k in rl))
        kl.append(ref.policy.pi_head.kl_divergence(rl, fl).mean().item())
        greedy = ref.policy.pi_head.sample(rl, deterministic=True)
        act_diff = max(
            act_diff,
            (ref.policy.pi_head.log_prob(rl, greedy) - fast.policy.pi_head.log_prob(fl, greedy)).abs().max().item(),
        )
        fast_greedy = fast.policy.pi_head.sample(fl, deterministic=True)
        agree.append(
            float(
                ((greedy["buttons"] == fast_greedy["buttons"]) & (greedy["camera"] == fast_greedy["camera"]))
                .float()
                .mean()
            )
        )
    return {
        "max_abs_logp": max_abs,
        "mean_kl": float(np.mean(kl)),
        "max_kl": float(np.max(kl)),
        "action_logp": act_diff,
        "argmax_agree": float(np.mean(agree)),
    }


def measure(
    preset: str = "1x",
    batches: tuple[int, ...] = (1, 8),
    steps: int = 20,
    warmup: int = 3,
    no_cache_steps: int = 3,
    accuracy_steps: int = 20,
    compile: bool = False,
) -> list[dict[str, Any]]:
    """Speed rows (``kind`` "cached"/"no cache") and accuracy rows (``kind`` "accuracy"), ratios included."""
    torch.manual_seed(0)
    net = VPTPolicyNet(preset).eval()
    cfg = net.config
    frames = smooth_frames(max(256, cfg.maxlen + 8), cfg.img_size)
    modes = ["fp32", "bf16"] + (["bf16+compile"] if compile else [])
    agents = {m: VPTAgent(net, **MODES[m]) for m in modes}
    rows: list[dict[str, Any]] = []
    for b in batches:
        ms = time_interleaved({m: cached_step(agents[m], b, frames) for m in modes}, steps, warmup)
        rows += [{"mode": m, "kind": "cached", "batch": b, "ms_per_call": ms[m]} for m in modes]
    ms = time_interleaved({m: uncached_step(agents[m], cfg.maxlen, frames) for m in modes}, no_cache_steps, 1)
    kind = f"no cache ({cfg.maxlen}-frame window)"
    rows += [{"mode": m, "kind": kind, "batch": 1, "ms_per_call": ms[m]} for m in modes]
    base = {(r["kind"], r["batch"]): r["ms_per_call"] for r in rows if r["mode"] == "fp32"}
    cached1 = {r["mode"]: r["ms_per_call"] for r in rows if r["kind"] == "cached" and r["batch"] == 1}
    for r in rows:
        ms, b = r["ms_per_call"], r["batch"]
        r["env_steps_per_s"] = b * 1000 / ms
        r["vs_fp32"] = base[(r["kind"], b)] / ms
        comparable = r["kind"] == "cached" and b in REFERENCE_MS and preset == "1x" and torch.get_num_threads() == 2
        r["vs_reference"] = REFERENCE_MS[b] / ms if comparable else None  # the reference ran on 2 threads
        r["x_cached_step"] = ms / cached1[r["mode"]] if r["kind"] != "cached" and r["mode"] in cached1 else None
    for mode in modes[1:]:
        acc = accuracy(agents[mode], agents["fp32"], frames, batches[-1], accuracy_steps)
        rows.append({"mode": mode, "kind": "accuracy", "batch": batches[-1], **acc})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="1x", help="policy preset (1x, 2x, 3x, tiny)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=20, help="timed calls per row")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-cache-steps", type=int, default=3, help="timed full-window recomputes")
    parser.add_argument("--accuracy-steps", type=int, default=20)
    parser.add_argument("--compile", action="store_true", help="also time bf16+compile")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = machine_description().get("cpu", "?")
    print(
        f"VPT policy speed: preset {args.preset}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, cpu {cpu}"
    )
    print(
        "NOTE: modes are timed call by call in turn, so other processes slow them alike; "
        "trust ratios over absolute times.\n"
    )
    rows = measure(
        args.preset, tuple(args.batch), args.steps, args.warmup, args.no_cache_steps, args.accuracy_steps, args.compile
    )
    print(f"{'mode':<14}{'inference':<30}{'batch':>6}{'ms/call':>10}{'env-steps/s':>13}{'vs fp32':>9}{'vs ref':>8}")
    for r in rows:
        if r["kind"] == "accuracy":
            continue
        ref = f"{r['vs_reference']:.2f}x" if r["vs_reference"] else "-"
        extra = f"   (= {r['x_cached_step']:.1f}x a cached step)" if r["x_cached_step"] else ""
        print(
            f"{r['mode']:<14}{r['kind']:<30}{r['batch']:>6}{r['ms_per_call']:>10.1f}{r['env_steps_per_s']:>13.1f}"
            f"{r['vs_fp32']:>8.2f}x{ref:>8}{extra}"
        )
    print(
        f"\nAccuracy vs fp32 over {args.accuracy_steps} cached steps at batch {args.batch[-1]} "
        "(random weights; real checkpoints may differ):"
    )
    print(f"{'mode':<14}{'max|dlogp|':>12}{'mean KL':>12}{'max KL':>12}{'|dlogp(a*)|':>13}{'argmax agree':>14}")
    for r in rows:
        if r["kind"] == "accuracy":
            print(
                f"{r['mode']:<14}{r['max_abs_logp']:>12.2e}{r['mean_kl']:>12.2e}{r['max_kl']:>12.2e}"
                f"{r['action_logp']:>13.2e}{r['argmax_agree']:>14.3f}"
            )


if __name__ == "__main__":
    main()
