"""World-model training speed and peak memory (GenRL MFWM), ours vs a reference-style baseline.

Run: ``python -m benchmarks.world_model_speed`` (defaults: batch 16 x length 64, 3 timed steps after 1
warm-up, official and small configs). Each measurement runs in a fresh process so that its peak RSS
(``resource.getrusage``) belongs to it alone.

Two implementations of the same numerics are timed in the same run:

* ``ours``: :func:`agents.genrl.world_model.update` (posteriors of a whole sequence at once since they
  do not depend on h, the GRU input matmul hoisted out of the time loop, channels-last convolutions, the
  1x1 first transposed conv as a matmul, the even-kernel transposed convs as ordinary convs on stride
  phases, the image entering once in a space-to-depth "phase" layout that the encoder's first conv reads
  and the decoder's last conv writes so that the loss never interleaves pixels, a summed squared error
  with one image-sized buffer and a chunked BLAS sum, multi-tensor Adam);
* ``baseline``: the reference's structure on the same modules (one posterior/prior/GRU step at a time,
  NCHW convolutions, the plain transposed conv, per-parameter Adam).

With ``--interleaved`` both implementations run in ONE process on the same data and initial weights,
alternating step by step (the order flips every round), and the medians are compared: on a machine that
other jobs share, both sides then see the same load, so the ratio is far steadier than that of two
processes timed one after the other (peak memory is not reported in that mode).

The reference's own timings on this kind of machine (spec section 11: 7.8 s/step official, 0.73 s/step
small at 16 x 64, fp32, 2 cores) are printed for comparison. A second table shows the episode store's
peak RSS while sampling from datasets of growing size (it should stay flat).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from typing import Any

from vpt_gym.number_checks import number_type

REFERENCE_S_PER_STEP = {"official": 7.8, "small": 0.73}


def _baseline_loss(wm: Any, batch: dict) -> Any:
    """Reference-structured loss: the same math as ``WorldModel.loss`` computed step by step."""
    import torch

    from agents.genrl.rssm import LatentState
    from agents.genrl.world_model import kl_balance_loss

    c = wm.config
    obs = batch["observation"]
    b, t = obs.shape[:2]
    images = wm.preprocess(obs).flatten(0, 1)
    embed = wm.encoder.net(images).flatten(1).reshape(b, t, -1)
    state = wm.rssm.initial(b)
    posts, priors = [], []
    for i in range(t):
        keep = (~batch["is_first"][:, i]).float()[:, None]
        prev = LatentState(state.deter * keep, state.stoch * keep, state.logits)
        prior = wm.rssm.img_step(prev, batch["action"][:, i] * keep)
        logits = wm.rssm.posterior_logits(embed[:, i])
        state = LatentState(prior.deter, wm.rssm.draw(logits), logits)
        posts.append(state)
        priors.append(prior)
    stack = lambda xs, f: torch.stack([getattr(x, f) for x in xs], 1)
    post_logits, prior_logits = stack(posts, "logits"), stack(priors, "logits")
    stoch, deter = stack(posts, "stoch"), stack(posts, "deter")
    kl_loss, _ = kl_balance_loss(wm.rssm.probs(post_logits), wm.rssm.probs(prior_logits), c.kl_balance, c.kl_free)
    x = wm.decoder.linear(stoch.flatten(0, 1))
    recon = wm.decoder.net(x.reshape(x.shape[0], 32 * c.cnn_depth, 1, 1)).reshape(b, t, 3, 64, 64)
    image_loss = (recon - wm.preprocess(obs)).pow(2).sum((-3, -2, -1)).mean()
    feat = torch.cat([stoch, deter], -1).detach()
    reward_loss = -wm.reward_head.log_prob(wm.reward_head(feat), batch["reward"]).mean()
    return c.kl_scale * kl_loss + image_loss + reward_loss


def _baseline_update(wm: Any, opt: Any, batch: dict) -> None:
    import torch

    loss = _baseline_loss(wm, batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(wm.parameters()), wm.config.grad_clip)
    with torch.no_grad():
        for p in wm.parameters():
            p.mul_(1.0 - wm.config.weight_decay)
    opt.step()


def _make_batch(batch: int, length: int) -> dict:
    import torch

    g = torch.Generator().manual_seed(0)
    data = {
        "observation": torch.randint(0, 256, (batch, length, 3, 64, 64), dtype=torch.uint8, generator=g),
        "action": torch.rand(batch, length, 6, generator=g) * 2 - 1,
        "reward": torch.rand(batch, length, generator=g),
        "is_first": torch.zeros(batch, length, dtype=torch.bool),
    }
    data["is_first"][:, 0] = True
    return data


def _time_interleaved(config: str, batch: int, length: int, steps: int, threads: int, queue: Any) -> None:
    """Baseline and ours alternating in one process (same data, same initial weights); medians."""
    import statistics

    import torch

    from agents.genrl.world_model import WorldModel, WorldModelConfig, make_optimizer, update

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = WorldModelConfig.official(6) if config == "official" else WorldModelConfig.small(6)
    ours, base = WorldModel(cfg), WorldModel(cfg)
    base.load_state_dict(ours.state_dict())
    ours_opt = make_optimizer(ours)
    base_opt = torch.optim.Adam(base.parameters(), lr=cfg.lr, eps=cfg.adam_eps, foreach=False)
    step = {"ours": lambda b: update(ours, ours_opt, b), "baseline": lambda b: _baseline_update(base, base_opt, b)}
    data = _make_batch(batch, length)
    for f in step.values():
        f(data)  # warm-up
    times: dict[str, list[float]] = {"baseline": [], "ours": []}
    for i in range(steps):
        for impl in (("baseline", "ours") if i % 2 == 0 else ("ours", "baseline")):
            t0 = time.perf_counter()
            step[impl](data)
            times[impl].append(time.perf_counter() - t0)
    queue.put({impl: statistics.median(ts) for impl, ts in times.items()})


def _time_training(config: str, impl: str, batch: int, length: int, steps: int, threads: int, queue: Any) -> None:
    import torch

    from agents.genrl.world_model import WorldModel, WorldModelConfig, make_optimizer, update

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = WorldModelConfig.official(6) if config == "official" else WorldModelConfig.small(6)
    wm = WorldModel(cfg)
    if impl == "ours":
        opt = make_optimizer(wm)
        step = lambda b: update(wm, opt, b)
    else:
        opt = torch.optim.Adam(wm.parameters(), lr=cfg.lr, eps=cfg.adam_eps, foreach=False)
        step = lambda b: _baseline_update(wm, opt, b)
    data = _make_batch(batch, length)
    step(data)  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(data)
        times.append(time.perf_counter() - t0)
    queue.put({"s_per_step": sorted(times)[len(times) // 2], "peak_rss_mb": _peak_rss_mb()})


def _make_dataset(directory: str, n_episodes: int, length: int, queue: Any) -> None:
    import numpy as np

    from agents.genrl.episodes import EpisodeStore

    store = EpisodeStore(directory)
    rng = np.random.default_rng(0)
    for _ in range(n_episodes):
        obs = np.zeros((length, 3, 64, 64), np.uint8)
        obs[:, :, :8, :8] = rng.integers(0, 256, (length, 3, 8, 8), dtype=np.uint8)
        store.add({
            "observation": obs, "action": rng.uniform(-1, 1, (length, 6)).astype(np.float32),
            "reward": np.zeros((length, 1), np.float32), "discount": np.ones((length, 1), np.float32),
            "is_first": np.arange(length) == 0, "is_last": np.arange(length) == length - 1,
            "is_terminal": np.zeros(length, bool),
        })
    queue.put({})


def _store_memory(directory: str, batch: int, seq: int, samples: int, queue: Any) -> None:
    """Peak RSS of a fresh process that indexes ``directory`` and samples ``samples`` batches."""
    import numpy as np

    from agents.genrl.episodes import EpisodeStore

    store = EpisodeStore(directory, cache_episodes=8)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(samples):
        store.sample(batch, seq, rng)
    queue.put({"peak_rss_mb": _peak_rss_mb(), "ms_per_batch": 1000 * (time.perf_counter() - t0) / samples,
               "files_opened": store.files_opened})


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run(target: Any, *args: Any) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def measure(
    configs: tuple[str, ...] = ("official", "small"),
    impls: tuple[str, ...] = ("baseline", "ours"),
    batch: int = 16,
    length: int = 64,
    steps: int = 3,
    threads: int = 2,
) -> list[dict[str, Any]]:
    """Training-step time and peak RSS per (config, implementation), each in a fresh process, with the
    speed-up over the reference-style baseline of the same run and over the spec's reference time."""
    rows: list[dict[str, Any]] = []
    for config in configs:
        results = {impl: _run(_time_training, config, impl, batch, length, steps, threads) for impl in impls}
        for impl, r in results.items():
            s = r["s_per_step"]
            rows.append({
                "config": config,
                "impl": impl,
                "batch": f"{batch}x{length}",
                "threads": threads,
                "s_per_step": s,
                "steps_per_s": 1 / s,
                "peak_rss_mb": r["peak_rss_mb"],
                "vs_baseline": results["baseline"]["s_per_step"] / s if "baseline" in results else None,
                "vs_spec_reference": REFERENCE_S_PER_STEP[config] / s if (batch, length) == (16, 64) else None,
            })
    return rows


def measure_interleaved(
    configs: tuple[str, ...] = ("official", "small"), batch: int = 16, length: int = 64, steps: int = 6,
    threads: int = 1,
) -> list[dict[str, Any]]:
    """Baseline vs ours alternating in one fresh process per config; median step times and their ratio."""
    rows: list[dict[str, Any]] = []
    for config in configs:
        r = _run(_time_interleaved, config, batch, length, steps, threads)
        for impl in ("baseline", "ours"):
            rows.append({
                "config": config, "impl": impl, "batch": f"{batch}x{length}", "threads": threads,
                "s_per_step": r[impl], "steps_per_s": 1 / r[impl], "vs_baseline": r["baseline"] / r[impl],
                "vs_spec_reference": REFERENCE_S_PER_STEP[config] / r[impl] if (batch, length) == (16, 64) else None,
            })
    return rows


def measure_store_memory(episode_counts: tuple[int, ...] = (8, 32)) -> list[dict[str, Any]]:
    """Peak RSS of sampling 20 batches of 16x64 from stores of growing size (fresh process each)."""
    rows = []
    for n in episode_counts:
        with tempfile.TemporaryDirectory() as tmp:
            _run(_make_dataset, tmp, n, 501)
            r = _run(_store_memory, tmp, 16, 64, 20)
        rows.append({"episodes": n, "steps": n * 501, "peak_rss_mb": r["peak_rss_mb"],
                     "ms_per_batch": r["ms_per_batch"], "files_opened": r["files_opened"]})
    return rows


def main() -> None:
    from benchmarks.timing import print_table

    parser = argparse.ArgumentParser(description="GenRL world-model training speed and memory")
    parser.add_argument("--configs", nargs="+", default=["official", "small"], choices=["official", "small"],
                        help="world-model configs to time (default both)")
    parser.add_argument("--impls", nargs="+", default=["baseline", "ours"], choices=["baseline", "ours"],
                        help="implementations to time: the reference-style baseline and ours (default both)")
    parser.add_argument("--batch", type=number_type(integer=True, minimum=1), default=16, help="sequences per batch (default 16)")
    parser.add_argument("--length", type=number_type(integer=True, minimum=1), default=64, help="steps per sequence (default 64)")
    parser.add_argument("--steps", type=number_type(integer=True, minimum=1), default=3, help="timed steps (median reported), after 1 warm-up")
    parser.add_argument("--threads", type=number_type(integer=True, minimum=1), default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--interleaved", action="store_true",
                        help="time baseline and ours alternating in one process (steadier on a shared machine)")
    parser.add_argument("--store-episodes", type=int, nargs="*", default=[8, 32],
                        help="dataset sizes (episodes of 501 steps) for the memory table; empty to skip")
    args = parser.parse_args()

    mode = "interleaved in one process" if args.interleaved else "one fresh process each"
    print(f"World-model training, batch {args.batch} x length {args.length}, {args.threads} threads, "
          f"median of {args.steps} steps, {mode}")
    if args.interleaved:
        rows = measure_interleaved(tuple(args.configs), args.batch, args.length, args.steps, args.threads)
    else:
        rows = measure(tuple(args.configs), tuple(args.impls), args.batch, args.length, args.steps, args.threads)
    print_table(rows, list(rows[0]))
    if args.store_episodes:
        print("\nEpisode store sampling in a fresh process (batch 16 x 64, 20 batches, cache 8 episodes)")
        store = measure_store_memory(tuple(args.store_episodes))
        print_table(store, list(store[0]))


if __name__ == "__main__":
    main()
