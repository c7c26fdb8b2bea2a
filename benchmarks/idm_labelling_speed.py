"""IDM pseudo-labelling throughput (frames/s) and peak memory on this CPU, float32 vs the fast mode.

Run: ``python -m benchmarks.idm_labelling_speed`` (the 4x IDM, random weights: speed and memory do not
depend on the weights; one 128-frame window per mode by default, about a minute for float32 here).
``--preset tiny --windows 2`` is a quick smoke run.

Each mode runs in a fresh Python subprocess, so its peak resident memory (``resource.getrusage``
``ru_maxrss``, which includes building the network) is its own. Modes:

- ``fp32``: :class:`agents.vpt.idm_training.IDMLabeller` with ``fast=False``: the plain float32 forward
  over the whole window (what the reference does);
- ``fast``: ``fast=True``: the CNN front 16 frames at a time, the CNN in bfloat16 and channels-last,
  bfloat16 weights for the transformer's linear layers, bfloat16 autocast for the 3D conv, fused
  attention, ``torch.inference_mode``;
- ``fast32``: ``fast=True, fast_dtype="float32"``: the same chunking, channels-last and fused attention,
  everything float32 with oneDNN-prepacked convolutions.

Both subprocesses build the same network (same seed) and label the same frames; the table gives the
speed and memory ratios against ``fp32`` measured in the same run and against the reference's figures
(spec vpt.md section 11: about 36 s and 6.8 GB per 128-frame window for the 4x IDM here, 3.6 frames/s),
and the agreement of the fast labels with ``fp32``, over all decisions and over those that are not
near-ties (fp32 top-two log-probability gap above ``--tie-margin``). The random weights' outputs are nearly
flat, so their near-ties make this agreement a pessimistic figure: :mod:`benchmarks.idm_label_agreement`
measures it on a trained IDM and real video.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vpt_gym.number_checks import number_type

#: The reference's 4x IDM on this kind of machine (spec section 11): seconds and peak GB per 128-frame window.
REFERENCE_SECONDS_PER_WINDOW = 36.0
REFERENCE_PEAK_GB = 6.8

MODES = ("fp32", "fast", "fast32")


def worker(mode: str, preset: str, windows: int, threads: int, seed: int, out: Path) -> None:
    """Build the IDM, label ``windows`` windows, write timings, peak memory and log-probs to ``out``."""
    import torch

    from agents.vpt.idm import IDMNetwork
    from agents.vpt.idm_training import IDMLabeller
    from benchmarks.vpt_policy_speed import smooth_frames

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    build_start = time.perf_counter()
    idm = IDMNetwork(preset).eval()
    labeller = IDMLabeller(idm, fast=mode != "fp32", fast_dtype="float32" if mode == "fast32" else "bfloat16")
    build_s = time.perf_counter() - build_start
    t, size = idm.config.timesteps, idm.config.img_size
    seconds, logps = [], []
    for w in range(windows):
        frames = smooth_frames(t, size, seed=seed + w)
        start = time.perf_counter()
        logp = labeller.logp(frames)
        labels = {k: v.argmax(-1) for k, v in logp.items()}  # the labels, as IDMLabeller.__call__ takes them
        seconds.append(time.perf_counter() - start)
        del labels
        logps.append({k: v.numpy() for k, v in logp.items()})
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    np.savez(out.with_suffix(".npz"), **{f"{k}_{i}": v for i, lp in enumerate(logps) for k, v in lp.items()})
    out.write_text(json.dumps({"seconds": seconds, "peak_gb": peak_gb, "build_s": build_s, "frames": t}))


def _agreement(ref: dict[str, np.ndarray], fast: dict[str, np.ndarray], margin: float) -> tuple[float, float, int]:
    """(agreement over all decisions, over non-near-ties, number of near-ties) of the argmax labels."""
    same, clear_same, clear_total, ties = 0, 0, 0, 0
    total = 0
    for key in ref:
        top2 = np.sort(ref[key], axis=-1)[..., -2:]
        clear = (top2[..., 1] - top2[..., 0]) > margin
        equal = ref[key].argmax(-1) == fast[key].argmax(-1)
        same += int(equal.sum())
        total += equal.size
        clear_same += int(equal[clear].sum())
        clear_total += int(clear.sum())
        ties += int((~clear).sum())
    return same / total, clear_same / max(clear_total, 1), ties


def run(preset: str, windows: int, threads: int, seed: int, tie_margin: float) -> dict[str, Any]:
    """Run every mode in its own subprocess and collect the figures."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            out = Path(tmp) / f"{mode}.json"
            cmd = [sys.executable, "-m", "benchmarks.idm_labelling_speed", "--worker", mode, "--preset", preset,
                   "--windows", str(windows), "--threads", str(threads), "--seed", str(seed), "--out", str(out)]  # fmt: skip
            subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[1])
            results[mode] = json.loads(out.read_text())
            with np.load(out.with_suffix(".npz")) as z:
                results[mode]["logp"] = {k: z[k] for k in z.files}
    ref = results["fp32"]["logp"]
    for mode in MODES:
        r = results[mode]
        r["seconds_per_window"] = float(np.median(r["seconds"]))
        r["frames_per_s"] = r["frames"] / r["seconds_per_window"]
        r["agreement"] = _agreement(_group(ref), _group(r["logp"]), tie_margin)
    return results


def _group(logp: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"buttons_0": ..., "buttons_1": ...}`` (one entry per window) -> ``{"buttons": all windows}``."""
    groups: dict[str, list[np.ndarray]] = {}
    for k in sorted(logp, key=lambda k: int(k.rsplit("_", 1)[1])):
        groups.setdefault(k.rsplit("_", 1)[0], []).append(logp[k])
    return {k: np.concatenate(v) for k, v in groups.items()}


def report(results: dict[str, Any], preset: str, threads: int, tie_margin: float) -> str:
    from benchmarks.timing import machine_description

    base = results["fp32"]
    lines = [
        f"IDM labelling speed: preset {preset}, {threads} torch thread(s), "
        f"{base['frames']}-frame windows, {len(base['seconds'])} window(s) per mode",
        f"machine: {machine_description().get('cpu', '?')}",
        "",
        f"{'mode':6s} {'s/window':>9s} {'frames/s':>9s} {'peak GB':>8s} {'speed x fp32':>13s} {'mem x fp32':>11s} "
        f"{'labels = fp32':>14s} {'(no near-ties)':>15s} {'near-ties':>10s}",
    ]
    for mode in MODES:
        r = results[mode]
        all_agree, clear_agree, ties = r["agreement"]
        lines.append(
            f"{mode:6s} {r['seconds_per_window']:9.2f} {r['frames_per_s']:9.2f} {r['peak_gb']:8.2f} "
            f"{base['seconds_per_window'] / r['seconds_per_window']:13.2f} {r['peak_gb'] / base['peak_gb']:11.2f} "
            f"{all_agree:14.4f} {clear_agree:15.4f} {ties:10d}"
        )
    if preset == "4x":
        ref_fps = 128 / REFERENCE_SECONDS_PER_WINDOW
        lines += ["", f"reference (spec section 11): {REFERENCE_SECONDS_PER_WINDOW:.0f} s/window, {ref_fps:.2f} frames/s, "
                      f"{REFERENCE_PEAK_GB} GB peak"]  # fmt: skip
        for mode in MODES:
            r = results[mode]
            lines.append(
                f"  {mode:6s} vs reference: speed x{r['frames_per_s'] / ref_fps:.2f} (target >= 2), "
                f"memory x{r['peak_gb'] / REFERENCE_PEAK_GB:.2f} (target <= 0.5)"
            )
    lines.append(f"near-tie: fp32 top-two log-probability gap <= {tie_margin}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="4x", help="IDM preset (4x, tiny)")
    parser.add_argument("--windows", type=number_type(integer=True, minimum=1), default=1, help="windows labelled per mode (median time reported)")
    parser.add_argument("--threads", type=number_type(integer=True, minimum=1), default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the network and the frames (default 0)")
    parser.add_argument("--tie-margin", type=float, default=0.05,
                        help="a near-tie: fp32 top-two log-probability gap at most this (default 0.05)")
    parser.add_argument("--worker", choices=MODES, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker, args.preset, args.windows, args.threads, args.seed, args.out)
        return 0
    results = run(args.preset, args.windows, args.threads, args.seed, args.tie_margin)
    print(report(results, args.preset, args.threads, args.tie_margin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
