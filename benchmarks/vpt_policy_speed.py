"""Speed and accuracy of the VPT policy on this machine, per inference mode, side by side.

Run: ``OMP_WAIT_POLICY=PASSIVE python -m benchmarks.vpt_policy_speed`` (1x policy; about 2 minutes at one
thread, 4 with ``--reference``). ``--preset tiny --steps 3`` is a quick smoke run whose timings are NOT the 1x
figures (it says so). ``--reference DIR`` (a checkout of openai/Video-Pre-Training, e.g. ``git archive`` of
the repository; its ``gym3.types`` (``DictType``, ``Discrete``, ``Real``, ``TensorType``, ``ValType``, with
``TensorType.size``) and ``minerl.herobraine.hero.mc`` imports must resolve, e.g. stub modules on
``PYTHONPATH``) also times the reference network, with the same weights, interleaved call by call with our
modes in the same run, and checks that ``fp32`` gives the reference's log-probs.

The network is :func:`non_uniform_policy`: random weights give nearly uniform action distributions, on
which every mode looks accurate; this one's outputs are peaked and frame-dependent (the benchmark prints
their mean max-probability and entropy). Speed does not depend on the weights.

Rows:
- ``cached``: one :meth:`VPTAgent.act` call per step (one new frame per env, K/V cache of 128 frames).
- ``no cache``: what one step costs without the cache: a forward over the whole 128-frame window.
- Modes: ``fp32`` (numerically the reference: bit-identical outputs in our parity runs), ``fp32-fast``
  (float32 throughout, channels-last, oneDNN-prepacked convs with fused ReLUs, one q/k/v/r GEMM per attention
  layer, fused attention, masks once per step: last-bit differences only), ``bf16`` (transformer linears and
  heads with bfloat16 weights, image encoder float32, channels-last, fused attention), ``fast`` (``bf16``
  plus ``fp32-fast``'s fusions and oneDNN-prepacked bfloat16 weights for those linear layers; see
  ``VPTAgent(pack_weights=True)``), ``fast-bf16-cnn`` (``fast`` with the image encoder in bfloat16 too: the
  fastest and least accurate; the ``fast`` mode before issue 20), ``fast+compile`` (``fast`` plus
  ``torch.compile`` of the CNN; opt-in with ``--compile``), and ``reference`` (with ``--reference``).
- ``fp32 encoder``: fp32-fast's image encoder alone on the same new frames (no transformer, no heads), timed
  in the same interleaved loop: the floor of every mode that keeps the image encoder in float32 (the encoder
  is where bfloat16 costs the most accuracy), so its ratios bound what such a mode can gain.
- Accuracy per mode against ``fp32`` along the same rollout (each mode keeps its own cache): max |dlogp|
  over all classes, mean/max KL, |dlogp| of fp32's argmax action, argmax agreement; printed beside the
  mode's speed ratios. Then each component alone in bfloat16 (:data:`COMPONENTS`), the rest float32.
Ratios are against the ``fp32`` rows measured in the same run, and against the reference: measured in the
same run with ``--reference``, else its figures from ``shared/specs/vpt.md`` section 11 (28 ms/step at
batch 1, 143 ms/call at batch 8; shown only for the 1x preset at 2 torch threads). The output records
``OMP_WAIT_POLICY`` and the load average before and after: OpenMP threads that wait actively can slow torch
down many-fold while other processes run, so use ``OMP_WAIT_POLICY=PASSIVE`` on a shared machine. There
``--threads 1`` gives steadier ratios (two OpenMP threads competing with other processes for two cores slow
small batch-1 kernels down erratically), and ``--threads 1 --clock cpu`` (process CPU time) steadier still:
it leaves out the time spent waiting for a core.

Measured (2026-12-03, ``--reference`` checkout, ``--threads 1 --clock cpu --no-components --steps 10``, 1x,
the other core busy; AVX512-BF16, no AMX): reference 42.3 / 274.0 ms per call at batch 1 / 8; vs the reference
fp32 1.04x / 1.04x (max |dlogp| 0 against it), fp32-fast 1.26x / 1.54x (max |dlogp| 2.8e-4), fast 1.70x /
1.75x (0.24, mean KL 1.1e-3), fast-bf16-cnn 2.50x / 3.31x (1.18), and the float32 encoder alone 2.25x / 1.90x.
So on this CPU no mode that keeps the encoder in float32 -- which the 0.05 log-prob bound needs, as the
encoder alone in bfloat16 moves the log-probs by ~0.4 -- can reach 2.5x at batch 8, and at batch 1 it would
leave 2.4 ms per step for the 50M-parameter transformer and the heads (fp32-fast spends 14.7 ms on them).

The float32 convolutions are already near this core's peak: the 1x encoder does about 3.7 GFLOP per frame, and
prepacked oneDNN convolutions take 190 ms at batch 8 at one thread (~155 GFLOP/s; they are 92% of the encoder's
time). The one lever left that cuts float32 FLOPs, Winograd F(4x4, 3x3), was probed by hand (2026-12-04, one
thread, not part of the package). Its error was 6e-6 to 1e-5 of the output's scale, against 3e-7 for the direct
convolution. But it was slower:

====================  ================  ============  ========================
layer                 oneDNN direct     Winograd      transform-domain GEMMs
====================  ================  ============  ========================
64 ch, 64x64, b8      10.1 ms           60 ms         7.7 ms
128 ch, 32x32, b8     10.9 ms           26 ms         7.0 ms
====================  ================  ============  ========================

Winograd here means the whole layer built from torch ops. The third column is its 36 batched ``torch.bmm``
products alone, with no transforms: even they are only 1.3-1.6x faster than the direct convolution. So the
encoder's floor would drop by at most about 1.5x, or to about 2.1x the reference at batch 8 with a float32
transformer. That is still short of 2.5x.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.vpt.agent import VPTAgent
from agents.vpt.policy import VPTPolicyNet
from agents.vpt.precision import bfloat16_linears
from benchmarks.timing import machine_description
from vpt_gym.number_checks import number_type

#: Reference (openai/Video-Pre-Training, fp32, torch 2.13) per-call times on these machines, spec section 11.
REFERENCE_MS = {1: 28.0, 8: 143.0}

MODES: dict[str, dict] = {
    "fp32": {},
    "fp32-fast": {"channels_last": True, "pack_weights": True},
    "bf16": {"dtype": "bfloat16", "channels_last": True, "fused_attention": True},
    "fast": {"dtype": "bfloat16", "channels_last": True, "pack_weights": True},
    "fast-bf16-cnn": {"dtype": "bfloat16", "channels_last": True, "pack_weights": True, "encoder_dtype": "bfloat16"},
    "fast+compile": {"dtype": "bfloat16", "channels_last": True, "pack_weights": True, "compile": True},
}

#: Weights of the accuracy model (:func:`non_uniform_policy`): noise added to every parameter, and the factor
#: the action heads are scaled by. Random VPT weights give nearly uniform action distributions, which hide
#: the error of reduced precision; these give mean max-probs (buttons / camera) of about 0.36 / 0.60 on the
#: 1x preset and 0.11 / 0.40 on tiny (uniform: 1/8641 and 1/121; the benchmark prints them).
WEIGHT_NOISE = 0.02
HEAD_SCALE = 10.0


#: the timed row of the float32 image encoder alone (the floor of every float32 mode)
ENCODER_ROW = "fp32 encoder"
ENCODER_KIND = "encoder only"


def non_uniform_policy(preset: str, seed: int = 0, weight_noise: float = WEIGHT_NOISE, head_scale: float = HEAD_SCALE) -> VPTPolicyNet:
    """A policy whose action distributions are far from uniform and depend on the frame: random weights plus
    ``weight_noise`` Gaussian noise on every parameter, the action heads' weights and biases times
    ``head_scale`` (logits about ``head_scale`` times larger than at initialisation).

    :param preset: policy preset. :param seed: torch seed of the weights.
    """
    torch.manual_seed(seed)
    net = VPTPolicyNet(preset).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * weight_noise)
        for p in net.pi_head.parameters():
            p.mul_(head_scale)
    return net


def peakedness(logp: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean max-probability and mean entropy (nats) of each action head's (B, n) log-probs."""
    out = {}
    for k, v in logp.items():
        out[f"max_prob_{k}"] = v.exp().max(-1).values.mean().item()
        out[f"entropy_{k}"] = -(v.exp() * v).sum(-1).mean().item()
    return out


def _bf16_linears_in(*paths: str) -> Callable[[VPTPolicyNet], None]:
    def convert(net: VPTPolicyNet) -> None:
        bfloat16_linears([net.get_submodule(p) for p in paths])

    return convert


def _bf16_convs(net: VPTPolicyNet) -> None:
    """Every conv of the image encoder computes in bfloat16 (float32 in/out: norms, pools, residuals float32)."""
    for layer in net.net.img_process.cnn.modules():
        if isinstance(layer, torch.nn.Conv2d):
            layer.to(torch.bfloat16)
            layer.register_forward_pre_hook(lambda m, a: (a[0].to(torch.bfloat16), *a[1:]))
            layer.register_forward_hook(lambda m, a, out: out.float())


#: One component in bfloat16, everything else float32 (:func:`component_errors`).
COMPONENTS: dict[str, Callable[[VPTPolicyNet], None]] = {
    "image encoder convs": _bf16_convs,
    "image encoder dense (CNN -> 256)": _bf16_linears_in("net.img_process.cnn.dense"),
    "image encoder linear (256 -> H)": _bf16_linears_in("net.img_process.linear"),
    "transformer linears": _bf16_linears_in("net.recurrent_layer"),
    "lastlayer": _bf16_linears_in("net.lastlayer"),
    "action heads": _bf16_linears_in("pi_head"),
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


#: Clocks for :func:`time_interleaved`: wall-clock, or this process's CPU time (all its threads).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def time_interleaved(
    fns: dict[str, Callable[[int], None]], steps: int, warmup: int, clock: str = "wall"
) -> dict[str, float]:
    """Median milliseconds per call of each ``fn(i)``, the functions called in turn within each step so
    that load from other processes hits every mode alike. ``warmup`` untimed rounds first.

    :param clock: ``"wall"`` or ``"cpu"`` (process CPU time: on a busy machine with ``--threads 1`` it
        leaves out the time the process waits for a core, which wall-clock medians cannot; with more
        threads it counts OpenMP workers' spin-waiting too, so use it with one thread only).
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")
    now = CLOCKS[clock]
    for i in range(warmup):
        for fn in fns.values():
            fn(i)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(steps):
        for name, fn in fns.items():
            start = now()
            fn(warmup + i)
            times[name].append(now() - start)
    return {name: float(np.median(t) * 1000) for name, t in times.items()}


def cached_step(agent: VPTAgent, batch: int, frames: np.ndarray) -> Callable[[int], None]:
    """One :meth:`VPTAgent.act` call on ``batch`` envs (state kept by the agent)."""
    agent.reset_state(batch)
    n = len(frames)

    def step(i: int) -> None:
        agent.act(frames[(i * batch + np.arange(batch)) % n])

    return step


def encoder_step(agent: VPTAgent, batch: int, frames: np.ndarray) -> Callable[[int], None]:
    """The agent's image encoder alone on ``batch`` new frames (the part of a cached step that scales with
    the pixels: timed beside the modes, it is the least any mode with this encoder can cost)."""
    encoder = agent.policy.net.img_process
    n = len(frames)

    def step(i: int) -> None:
        idx = [(i * batch + j) % n for j in range(batch)]
        x = torch.from_numpy(frames[idx]).permute(0, 3, 1, 2).float() / 255.0
        with torch.inference_mode():
            encoder(x)

    return step


def uncached_step(agent: VPTAgent, window: int, frames: np.ndarray) -> Callable[[int], None]:
    """What a step costs without the cache: a forward over the whole ``window`` for the newest frame."""
    obs = torch.as_tensor(frames[:window])[None]  # (1, window, S, S, 3)

    def step(_: int) -> None:
        with torch.inference_mode():
            agent.policy(obs)

    return step


class ReferencePolicy:
    """The reference network (openai/Video-Pre-Training's ``MinecraftAgentPolicy``) built from a checkout.

    Imports the checkout's ``lib`` package (its ``gym3``/``minerl`` imports must resolve) and copies
    ``net``'s weights into it, so both compute the same function.

    :param directory: the checkout (it holds ``lib/policy.py``).
    :param net: our network of an official preset (its config gives the reference's kwargs).
    """

    def __init__(self, directory: str, net: VPTPolicyNet) -> None:
        import importlib
        import sys
        from pathlib import Path

        from agents.checkpoints import load_state_dict_strict

        root = Path(directory)
        if not (root / "lib" / "policy.py").is_file():
            raise FileNotFoundError(f"--reference {directory!r}: no lib/policy.py there (want a Video-Pre-Training checkout)")
        sys.path.insert(0, str(root))
        try:
            types = importlib.import_module("gym3.types")
            policy_mod = importlib.import_module("lib.policy")
            mapping = importlib.import_module("lib.action_mapping")
        except ImportError as exc:
            raise ImportError(
                f"cannot import the reference from {directory!r} ({exc}); it needs gym3 (and minerl's item map) "
                "importable, e.g. `pip install gym3` or stub modules on PYTHONPATH"
            ) from exc
        net_args, pi_head_opts = net.config.to_official()
        space = types.DictType(**mapping.CameraHierarchicalMapping(n_camera_bins=11).get_action_space_update())
        self.module = policy_mod.MinecraftAgentPolicy(space, net_args, pi_head_opts).eval()
        self.module.load_state_dict(net.state_dict(), strict=True)
        load_state_dict_strict(net, self.module.state_dict(), "reference")  # same keys and shapes both ways
        self._state: Any = None

    def reset_state(self, batch: int) -> None:
        """Fresh reference state for ``batch`` envs."""
        self._state = self.module.initial_state(batch)

    def evaluate(self, obs: np.ndarray) -> dict[str, torch.Tensor]:
        """One cached step on (B, S, S, 3) frames; returns the log-probs ``{"buttons", "camera"}`` (B, n)."""
        first = torch.zeros(obs.shape[0], dtype=torch.bool)
        with torch.no_grad():
            _, self._state, out = self.module.act(
                {"img": torch.from_numpy(obs)}, first, self._state, stochastic=True, return_pd=True
            )
        return {k: v.reshape(obs.shape[0], -1) for k, v in out["pd"].items()}

    def step(self, batch: int, frames: np.ndarray) -> Callable[[int], None]:
        """Like :func:`cached_step`: one reference ``act`` call on ``batch`` envs per call."""
        self.reset_state(batch)
        n = len(frames)

        def step(i: int) -> None:
            self.evaluate(frames[(i * batch + np.arange(batch)) % n])

        return step


def reference_parity(ref: ReferencePolicy, ours: VPTAgent, frames: np.ndarray, batch: int, steps: int) -> float:
    """Max |log-prob difference| between the reference and ``ours`` along the same cached rollout."""
    ref.reset_state(batch)
    ours.reset_state(batch)
    worst = 0.0
    for i in range(steps):
        obs = frames[(i * batch + np.arange(batch)) % len(frames)]
        r = ref.evaluate(obs)
        o, _ = ours.evaluate(obs)
        worst = max(worst, max((r[k] - o.logp[k][:, 0]).abs().max().item() for k in ("buttons", "camera")))
    return worst


def accuracy(fast: VPTAgent, ref: VPTAgent, frames: np.ndarray, batch: int, steps: int) -> dict[str, float]:
    """Max |logp diff| over all classes, KL(fp32 || fast) and the chosen action's |logp diff|."""
    ref.reset_state(batch)
    fast.reset_state(batch)
    max_abs, kl, act_diff, agree, peaks = 0.0, [], 0.0, [], []
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
        peaks.append(peakedness(rl))
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
        # how far from uniform the float32 outputs were (an accuracy figure means little on uniform ones)
        **{f"fp32_{k}": float(np.mean([p[k] for p in peaks])) for k in peaks[0]},
    }


def component_errors(net: VPTPolicyNet, frames: np.ndarray, batch: int, steps: int) -> list[dict[str, Any]]:
    """:func:`accuracy` of the network with one component at a time in bfloat16 (:data:`COMPONENTS`), the
    rest float32, plus the whole image encoder in bfloat16 (norms and residual adds too, as in
    ``VPTAgent(encoder_dtype="bfloat16")``)."""
    ref = VPTAgent(net)
    rows = []
    for name, convert in COMPONENTS.items():
        one = copy.deepcopy(net)
        convert(one)
        rows.append({"component": name, **accuracy(VPTAgent(one), ref, frames, batch, steps)})
    whole = VPTAgent(net, encoder_dtype="bfloat16")
    rows.append({"component": "image encoder, all of it (norms, residuals)", **accuracy(whole, ref, frames, batch, steps)})
    return rows


def measure(
    preset: str = "1x",
    batches: tuple[int, ...] = (1, 8),
    steps: int = 20,
    warmup: int = 3,
    no_cache_steps: int = 3,
    accuracy_steps: int = 20,
    compile: bool = False,
    reference: str | None = None,
    clock: str = "wall",
    components: bool = True,
) -> list[dict[str, Any]]:
    """Speed rows (``kind`` "cached"/"no cache"), accuracy rows (``kind`` "accuracy"), with ``components``
    per-component accuracy rows (``kind`` "component") and, with ``reference`` (a Video-Pre-Training
    checkout), the reference's timed rows and a ``"parity"`` row. The network is
    :func:`non_uniform_policy` (speed does not depend on the weights; accuracy does)."""
    net = non_uniform_policy(preset)
    cfg = net.config
    frames = smooth_frames(max(256, cfg.maxlen + 8), cfg.img_size)
    modes = ["fp32", "fp32-fast", "bf16", "fast", "fast-bf16-cnn"] + (["fast+compile"] if compile else [])
    agents = {m: VPTAgent(net, **MODES[m]) for m in modes}
    ref = ReferencePolicy(reference, net) if reference else None
    rows: list[dict[str, Any]] = []
    for b in batches:
        steps_fns = {m: cached_step(agents[m], b, frames) for m in modes}
        steps_fns[ENCODER_ROW] = encoder_step(agents["fp32-fast"], b, frames)
        if ref is not None:
            steps_fns["reference"] = ref.step(b, frames)
        ms = time_interleaved(steps_fns, steps, warmup, clock)
        rows += [{"mode": m, "kind": ENCODER_KIND if m == ENCODER_ROW else "cached", "batch": b, "ms_per_call": ms[m]}
                 for m in steps_fns]  # fmt: skip
    ms = time_interleaved({m: uncached_step(agents[m], cfg.maxlen, frames) for m in modes}, no_cache_steps, 1, clock)
    kind = f"no cache ({cfg.maxlen}-frame window)"
    rows += [{"mode": m, "kind": kind, "batch": 1, "ms_per_call": ms[m]} for m in modes]
    base = {(r["kind"], r["batch"]): r["ms_per_call"] for r in rows if r["mode"] == "fp32"}
    base.update({(ENCODER_KIND, b): base[("cached", b)] for b in batches})
    measured_ref = {r["batch"]: r["ms_per_call"] for r in rows if r["mode"] == "reference"}
    cached1 = {r["mode"]: r["ms_per_call"] for r in rows if r["kind"] == "cached" and r["batch"] == 1}
    for r in rows:
        ms, b = r["ms_per_call"], r["batch"]
        r["env_steps_per_s"] = b * 1000 / ms
        r["vs_fp32"] = base[(r["kind"], b)] / ms
        r["reference_source"] = None
        r["vs_reference"] = None
        if r["kind"] in ("cached", ENCODER_KIND) and b in measured_ref:
            r["vs_reference"], r["reference_source"] = measured_ref[b] / ms, "same run"
        elif (
            r["kind"] in ("cached", ENCODER_KIND)
            and b in REFERENCE_MS
            and preset == "1x"
            and torch.get_num_threads() == 2
            and clock == "wall"
        ):
            # the spec's figures were taken at 2 threads on a quiet machine
            r["vs_reference"], r["reference_source"] = REFERENCE_MS[b] / ms, "spec section 11"
        r["x_cached_step"] = ms / cached1[r["mode"]] if r["kind"].startswith("no cache") else None
    for mode in modes[1:]:
        acc = accuracy(agents[mode], agents["fp32"], frames, batches[-1], accuracy_steps)
        rows.append({"mode": mode, "kind": "accuracy", "batch": batches[-1], **acc})
    if components:
        for row in component_errors(net, frames, batches[-1], accuracy_steps):
            rows.append({"mode": "fp32", "kind": "component", "batch": batches[-1], **row})
    if ref is not None:
        parity = reference_parity(ref, agents["fp32"], frames, batches[-1], accuracy_steps)
        rows.append({"mode": "fp32", "kind": "parity", "batch": batches[-1], "max_abs_logp_vs_reference": parity})
    return rows


def load_note() -> str:
    """``OMP_WAIT_POLICY`` and the 1/5/15-minute load averages, with the advice for a shared machine."""
    policy = os.environ.get("OMP_WAIT_POLICY", "<unset>")
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not available on this platform
        load = "?"
    note = f"OMP_WAIT_POLICY={policy}, load average {load} (1/5/15 min) on {os.cpu_count()} CPUs"
    if policy.upper() != "PASSIVE":
        note += (
            "\nWARNING: OpenMP threads that wait actively can slow torch down many-fold while other processes "
            "run; on a shared machine set OMP_WAIT_POLICY=PASSIVE"
        )
    return note


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="1x", help="policy preset (1x, 2x, 3x, tiny)")
    parser.add_argument("--batch", type=number_type(integer=True, minimum=1), nargs="+", default=[1, 8], help="batch sizes to time (default 1 8)")
    parser.add_argument("--steps", type=number_type(integer=True, minimum=1), default=20, help="timed calls per row")
    parser.add_argument("--warmup", type=number_type(integer=True, minimum=0), default=3, help="untimed calls before timing (default 3)")
    parser.add_argument("--no-cache-steps", type=number_type(integer=True, minimum=1), default=3, help="timed full-window recomputes")
    parser.add_argument("--accuracy-steps", type=number_type(integer=True, minimum=1), default=20,
                        help="steps compared with float32 for the accuracy rows (default 20)")
    parser.add_argument("--compile", action="store_true", help="also time fast+compile")
    parser.add_argument("--no-components", action="store_true", help="skip the per-component accuracy table")
    parser.add_argument(
        "--reference",
        metavar="DIR",
        default=None,
        help="a Video-Pre-Training checkout: time the reference in the same run (needs gym3 importable)",
    )
    parser.add_argument("--threads", type=number_type(integer=True, minimum=1), default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall-clock or process CPU time (cpu: steadier on a busy machine, with --threads 1 only)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = machine_description().get("cpu", "?")
    print(
        f"VPT policy speed: preset {args.preset}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, cpu {cpu}, {args.clock} clock"
    )
    print(f"before: {load_note()}")
    print(
        "NOTE: modes are timed call by call in turn, so other processes slow them alike; "
        "trust ratios over absolute times."
    )
    if args.preset != "1x":
        print(
            f"NOTE: preset {args.preset!r}: these timings are NOT the 1x figures (on small networks per-call "
            "overheads dominate and the fast modes can be slower than fp32); run --preset 1x for those."
        )
    print()
    rows = measure(
        args.preset,
        tuple(args.batch),
        args.steps,
        args.warmup,
        args.no_cache_steps,
        args.accuracy_steps,
        args.compile,
        args.reference,
        args.clock,
        components=not args.no_components,
    )
    if args.clock == "cpu" and torch.get_num_threads() > 1:
        print("WARNING: --clock cpu with several threads also counts OpenMP spin-waiting\n")
    print(f"{'mode':<15}{'inference':<30}{'batch':>6}{'ms/call':>10}{'env-steps/s':>13}{'vs fp32':>9}{'vs ref':>8}")
    for r in rows:
        if r["kind"] not in ("cached", ENCODER_KIND) and not r["kind"].startswith("no cache"):
            continue
        ref = f"{r['vs_reference']:.2f}x" if r["vs_reference"] else "-"
        extra = f"   (= {r['x_cached_step']:.1f}x a cached step)" if r["x_cached_step"] else ""
        print(
            f"{r['mode']:<15}{r['kind']:<30}{r['batch']:>6}{r['ms_per_call']:>10.1f}{r['env_steps_per_s']:>13.1f}"
            f"{r['vs_fp32']:>8.2f}x{ref:>8}{extra}"
        )
    acc_rows = [r for r in rows if r["kind"] == "accuracy"]
    if acc_rows:
        a0 = acc_rows[0]
        print(
            f"\nAccuracy vs fp32 over {args.accuracy_steps} cached steps at batch {args.batch[-1]}, on a network whose "
            f"action distributions are far from uniform (non_uniform_policy: fp32 mean max-prob buttons "
            f"{a0['fp32_max_prob_buttons']:.2f}, camera {a0['fp32_max_prob_camera']:.2f}; entropy buttons "
            f"{a0['fp32_entropy_buttons']:.2f} nats vs uniform {np.log(8641):.2f}), beside the cached-step speed:"
        )
    speed = {(r["mode"], r["batch"]): r for r in rows if r["kind"] == "cached"}
    head = "".join(f"{f'b{b} vs fp32':>12}{f'b{b} vs ref':>11}" for b in args.batch)
    print(f"{'mode':<15}{'max|dlogp|':>11}{'mean KL':>10}{'max KL':>10}{'|dlogp(a*)|':>12}{'argmax agree':>13}{head}")
    for r in acc_rows:
        cells = ""
        for b in args.batch:
            sp = speed.get((r["mode"], b))
            vs_ref = f"{sp['vs_reference']:.2f}x" if sp and sp["vs_reference"] else "-"
            vs_fp32 = f"{sp['vs_fp32']:.2f}x" if sp else "-"
            cells += f"{vs_fp32:>12}{vs_ref:>11}"
        print(
            f"{r['mode']:<15}{r['max_abs_logp']:>11.2e}{r['mean_kl']:>10.1e}{r['max_kl']:>10.1e}"
            f"{r['action_logp']:>12.2e}{r['argmax_agree']:>13.3f}{cells}"
        )
    comp = [r for r in rows if r["kind"] == "component"]
    if comp:
        print("\nPer component: that component alone in bfloat16, the rest fp32 (same network, steps and batch):")
        print(f"{'component':<46}{'max|dlogp|':>11}{'mean KL':>10}{'argmax agree':>13}")
        for r in comp:
            print(f"{r['component']:<46}{r['max_abs_logp']:>11.3f}{r['mean_kl']:>10.1e}{r['argmax_agree']:>13.3f}")

    enc = {r["batch"]: r for r in rows if r["kind"] == ENCODER_KIND}
    if enc:
        print(f"\n{ENCODER_ROW}: fp32-fast's image encoder alone on the same new frames, no transformer or heads. "
              "Every mode that keeps this float32 encoder costs at least this much per call, so 'vs fp32' of that "
              "row bounds their speed-up" + (" and 'vs ref' its speed-up over the reference" if any(
                  r["vs_reference"] for r in enc.values()) else "") + ".")  # fmt: skip
    sources = {r["reference_source"] for r in rows if r.get("reference_source")}
    if sources:
        print(f"'vs ref' = reference ms / mode ms; reference figures from: {', '.join(sorted(sources))}")
    for r in rows:
        if r["kind"] == "parity":
            print(f"fp32 vs reference, max |dlogp| over {args.accuracy_steps} steps: {r['max_abs_logp_vs_reference']:.3g}")
    print(f"after: {load_note()}")


if __name__ == "__main__":
    main()
