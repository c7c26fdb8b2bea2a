"""Does plain PPO on GenRL's prompt reward improve the ground-truth return? (issue 19, item 2)

Run: ``python -m benchmarks.genrl_reward_ppo --wm-run-dir runs/genrl_multitask/walker --task walker_stand``
after :mod:`benchmarks.genrl_multitask` has trained that domain's world model and rendered the task's prompt
(``<wm-run-dir>/world_model/checkpoint.safetensors``, ``<wm-run-dir>/<task>/prompt.gif``; the VLM is the one
that run used). For every seed:

1. a pixel env of the task (64x64 frames, fast rendering, as the world model's data) wrapped with
   :class:`wrappers.genrl_reward.GenRLReward`: the reward PPO sees is the prompt reward, the task's own reward
   only goes to ``info["task_reward"]``;
2. SB3's PPO with the ``CnnPolicy`` on one env (``DummyVecEnv``), SB3's defaults except ``n_steps``. The run is
   :class:`agents.sb3.kl_ppo.KLPPO` with ``kl_coef=0``: the update is bit-identical to PPO's (the KL term is
   skipped at 0), and it saves and resumes the whole run without pickle;
3. at every rung of ``--ladder`` (env steps; 0 = the initial policy) the run is saved (``seed<i>/ppo``) and
   ``--eval-episodes`` episodes of the deterministic policy (reset seeds 10000.., the same for every rung, seed
   and for the multitask run's random / zero-action baselines) are scored by the ground truth and by the
   prompt reward: ``seed<i>/rung<n>.json`` (atomic). A re-run skips what exists and continues from the
   last saved rung.

The report (``results.json``, :func:`format_report`) gives per rung the GT return (mean of seed means, 95%
stratified-bootstrap CI over episodes, range of the seed means), its normalised score, the prompt reward per
step and its per-step spread; then the change from rung 0 to the last rung, paired by reset seed (the same
episodes' start states), with its CI: "GT improved" means the CI's lower bound is above 0.

The VLM of the prompt reward is the world-model run's (default ``random-features``: a seeded random-feature
video encoder, an offline stand-in, NOT a pretrained vision-language model); the report names it.

Measured (2026-12-03, 1 thread with the other core busy, VLM: random-features stand-in, NOT a pretrained VLM;
the walker world model of :mod:`benchmarks.genrl_multitask`'s measured run; 799 s = 13 minutes in all, per seed
about 60 s per 4096 env steps and 50 s per 10-episode evaluation)::

    python -m benchmarks.genrl_reward_ppo --run-dir /work/wt/runs/genrl2/ppo_walker_stand \
        --wm-run-dir /work/wt/runs/genrl2/mt_walker --task walker_stand --seeds 3 --ladder 0,4096,8192 \
        --eval-episodes 10 --threads 1

=========  ===============================  ==========  ===========================  =====================
env steps  GT return [95% CI] (seed means)  normalised  prompt reward/step (std)     training prompt return
=========  ===============================  ==========  ===========================  =====================
0          116.0 [105,125] 115..119         -0.041      0.014 (0.126)                --
4096       115.1 [102,128] 99..142          -0.043      -0.009 (0.131)               25.9
8192       131.7 [111,154] 107..150         -0.022      0.021 (0.121)                32.8
=========  ===============================  ==========  ===========================  =====================

GT return 0 -> 8192 (paired by reset seed): +15.7 [-7.4, 40.0], 2 of 3 seeds up: NOT an improvement (the
interval includes 0); the prompt reward of the evaluation episodes did not rise either (+0.007 [-0.054, 0.061]),
while the training episodes' prompt return rose from 25.9 to 32.8. Random scores 134.9 and the zero action
114.7 on the same reset seeds. 8192 steps (16 PPO updates) is what fitted this session's one core; pixel PPO on
walker usually needs 10^5-10^6 steps, i.e. ~25 minutes of training per seed per 10^5 steps at this speed.

On the task-agent world model of cheetah (2026-12-04, :mod:`benchmarks.genrl_multitask`'s cheetah run with
100,000 SAC steps, whose data-free behaviours got 16 vs random's 8; 1 thread with the other core busy, 3022 s =
50 minutes in all, per seed about 3 minutes per 8192 env steps and 80 s per evaluation)::

    python -m benchmarks.genrl_reward_ppo --run-dir /work/wt/runs/genrl4/ppo_cheetah_run \
        --wm-run-dir /work/wt/runs/genrl4/mt_cheetah --task cheetah_run --seeds 3 --ladder 0,8192,32768 \
        --eval-episodes 10 --threads 1

=========  ===============================  ==========  ===========================  =====================
env steps  GT return [95% CI] (seed means)  normalised  prompt reward/step (std)     training prompt return
=========  ===============================  ==========  ===========================  =====================
0          0.1 [0.1,0.2] 0.1..0.1           -0.010      0.025 (0.089)                --
8192       0.4 [0.4,0.4] 0.3..0.6           -0.010      0.802 (0.041)                215.5
32768      0.4 [0.4,0.4] 0.3..0.6           -0.010      0.857 (0.057)                383.3
=========  ===============================  ==========  ===========================  =====================

GT return 0 -> 32768: +0.3 [0.3, 0.3], 3 of 3 seeds up, so the rule calls it "improved", but it is not learning
the task: 0.4 is far below random's 7.6 on the same reset seeds (cheetah_run's expert is ~800). The prompt
reward meanwhile rose from 0.025 to 0.857 per step, above every data-free behaviour's (0.57) and random's
(0.24): PPO found a held pose that the prompt reward scores highly without running. The report now says so
whenever the last rung is not above random. So GenRLReward + PPO is measured on two tasks and improves the GT
return on neither in a way that counts: walker_stand within noise, cheetah_run by a reward hack.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from benchmarks.dataclass_flags import add_flags, overrides
from vpt_gym.atomic_file import replace_directory_atomic, write_atomic

#: settings a run directory may be resumed under with another value
RESUMABLE_CHANGES = frozenset({"run_dir", "progress", "threads", "seeds", "ladder", "wm_run_dir"})
EVAL_SEED = 10_000


@dataclass
class Args:
    """:param run_dir: output and resume directory.
    :param wm_run_dir: a :mod:`benchmarks.genrl_multitask` run directory of the task's domain (its world model,
        its prompt for the task, its VLM).
    :param task: the GenRL task (its prompt ``<wm_run_dir>/<task>/prompt.gif`` and its ground-truth reward).
    :param seeds: PPO seeds (0..seeds-1).
    :param ladder: comma-separated env steps at which the policy is saved and evaluated (0: the initial policy;
        increasing multiples of ``n_steps``).
    :param n_steps: PPO rollout length. :param batch_size: PPO minibatch. :param n_epochs: PPO epochs per
        rollout. :param learning_rate: PPO learning rate.
    :param eval_episodes: evaluation episodes per rung and seed (reset seeds 10000..).
    :param threads: torch CPU threads. :param progress: progress bars.
    """

    run_dir: str = "runs/genrl_reward_ppo/walker_stand"
    wm_run_dir: str = "runs/genrl_multitask/walker"
    task: str = "walker_stand"
    seeds: int = 3
    ladder: str = "0,4096,8192"
    n_steps: int = 512
    batch_size: int = 64
    n_epochs: int = 10
    learning_rate: float = 3e-4
    eval_episodes: int = 10
    threads: Optional[int] = 1
    progress: bool = True

    def rungs(self) -> list[int]:
        """The ladder as ints, checked: increasing multiples of ``n_steps`` starting anywhere >= 0."""
        try:
            rungs = [int(r) for r in self.ladder.split(",") if r.strip()]
        except ValueError:
            raise ValueError(f"ladder must be comma-separated env steps, got {self.ladder!r:.80}") from None
        if not rungs or rungs != sorted(set(rungs)) or any(r < 0 or r % self.n_steps for r in rungs):
            raise ValueError(f"ladder must be increasing multiples of n_steps = {self.n_steps} (0 allowed), got "
                             f"{self.ladder!r:.80}")
        return rungs


def _save(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: tmp.write_text(text))


def load_world_model_run(wm_run_dir: Path, task: str) -> tuple[Any, Path]:
    """(the MFWM of a genrl_multitask run directory with the VLM it was made with, the task's prompt clip)."""
    from agents.genrl.reward import MFWM
    from agents.genrl.vlm import load_vlm
    from vpt_gym.user_errors import UsageError

    ckpt = wm_run_dir / "world_model" / "checkpoint.safetensors"
    prompt = wm_run_dir / task / "prompt.gif"
    settings = wm_run_dir / "multitask_settings.json"
    missing = [str(p) for p in (ckpt, prompt, settings) if not p.is_file()]
    if missing:
        raise UsageError(f"{', '.join(missing)} not found: run `python -m benchmarks.genrl_multitask --run-dir "
                         f"{wm_run_dir} --tasks {task}` first (it trains the world model and renders the prompt)")
    vlm = json.loads(settings.read_text()).get("vlm")
    if not isinstance(vlm, str):
        raise UsageError(f"{settings} names no VLM (expected a 'vlm' string)")
    return MFWM.from_checkpoint(ckpt, load_vlm(vlm)), prompt


def evaluate(model: Any, prompt: Any, env_factory: Callable[[], Any], ppo: Any, episodes: int) -> dict[str, Any]:
    """GT return and prompt reward of ``episodes`` episodes of ``ppo``'s deterministic policy (seeds 10000..)."""
    from benchmarks.genrl_end_to_end import prompt_reward_check

    policy = {"ppo": lambda obs: ppo.predict(obs, deterministic=True)[0]}
    return prompt_reward_check(model, prompt, env_factory, policy, episodes, seed=EVAL_SEED)["ppo"]


def run_seed(args: Args, seed: int, model: Any, prompt: Any, env_factory: Callable[[], Any], run_dir: Path,
             bar: Any = None) -> dict[int, Any]:
    """One PPO run: learn to each rung, save the run, evaluate; skip rungs whose file exists."""
    import torch
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.sb3.kl_ppo import KLPPO
    from wrappers.genrl_reward import GenRLReward

    seed_dir = run_dir / f"seed{seed}"
    rungs = args.rungs()
    todo = [r for r in rungs if not (seed_dir / f"rung{r}.json").is_file()]
    if todo:
        monitor = Monitor(GenRLReward(env_factory(), model, prompt))
        venv = DummyVecEnv([lambda: monitor])
        if (seed_dir / "ppo").is_dir():
            ppo = KLPPO.from_pretrained(str(seed_dir / "ppo"), venv, restore_rng=True, device="cpu")
        else:
            torch.manual_seed(seed)
            ppo = KLPPO("CnnPolicy", venv, kl_coef=0.0, n_steps=args.n_steps, batch_size=args.batch_size,
                        n_epochs=args.n_epochs, learning_rate=args.learning_rate, seed=seed, verbose=0, device="cpu")
        for rung in todo:
            if ppo.num_timesteps > rung:
                raise ValueError(f"{seed_dir / 'ppo'} is at {ppo.num_timesteps} env steps, past rung {rung}: "
                                 "use a new --run-dir for a ladder with lower rungs")
            started, episodes_before = time.perf_counter(), len(monitor.get_episode_rewards())
            if ppo.num_timesteps < rung:
                ppo.learn(rung - ppo.num_timesteps, reset_num_timesteps=False, progress_bar=args.progress)
            replace_directory_atomic(seed_dir / "ppo", ppo.save_pretrained)
            learn_s = time.perf_counter() - started
            result = evaluate(model, prompt, env_factory, ppo, args.eval_episodes)
            result.update(env_steps=int(ppo.num_timesteps), learn_s=learn_s,
                          eval_s=time.perf_counter() - started - learn_s,
                          train_prompt_returns=[float(r) for r in monitor.get_episode_rewards()[episodes_before:]])
            _save(seed_dir / f"rung{rung}.json", result)
            if bar is not None:
                bar.update(1)
        venv.close()
    return {r: json.loads((seed_dir / f"rung{r}.json").read_text()) for r in rungs}


def summarise(task: Optional[str], seeds: dict[int, dict[int, Any]]) -> dict[str, Any]:
    """Per rung: estimates over seeds and episodes; the first-to-last change paired by reset seed."""
    from benchmarks.intervals import estimate
    from vpt_gym.tasks import UnknownTaskError, get_task

    try:
        spec = get_task(task) if task else None
    except UnknownTaskError:
        spec = None
    rungs = sorted(next(iter(seeds.values())))
    out: dict[str, Any] = {"rungs": {}, "n_seeds": len(seeds)}
    for rung in rungs:
        runs = [s[rung] for s in seeds.values()]
        e = estimate([r["task_returns"] for r in runs])
        p = estimate([r["prompt_reward_means"] for r in runs])
        out["rungs"][rung] = {
            "mean_return": e.mean, "ci": e.ci, "seed_mean_range": [e.low, e.high], "n_episodes": e.n,
            "normalized": spec.normalized_score(e.mean) if spec else None,
            "prompt_reward": p.mean, "prompt_ci": p.ci, "prompt_step_std": float(np.mean([r["step_std"] for r in runs])),
            "train_prompt_return": float(np.mean(sum((r["train_prompt_returns"] for r in runs), [])))
            if any(r["train_prompt_returns"] for r in runs) else None,
        }
    first, last = rungs[0], rungs[-1]
    for key, field in (("gt_change", "task_returns"), ("prompt_change", "prompt_reward_means")):
        diffs = [np.subtract(s[last][field], s[first][field]) for s in seeds.values()]
        d = estimate(diffs)
        out[key] = {"from": first, "to": last, "mean": d.mean, "ci": d.ci,
                    "seeds_up": int(sum(np.mean(x) > 0 for x in diffs)), "improved": bool(d.ci is not None and d.ci[0] > 0)}
    return out


def run(args: Args, model: Any = None, prompt: Any = None, env_factory: Optional[Callable[[], Any]] = None
        ) -> dict[str, Any]:
    """Run (or resume) every seed; return the results (also in ``run_dir/results.json``).

    :param model, prompt, env_factory: the MFWM, prompt and (unwrapped) env; by default the world model and
        prompt of ``args.wm_run_dir`` and ``gym.make`` of the task's pixel env (fast rendering).
    """
    import torch
    from tqdm.auto import tqdm

    from benchmarks.genrl_end_to_end import check_run_settings

    if args.threads:
        torch.set_num_threads(args.threads)
    rungs = args.rungs()
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_run_settings(run_dir / "ppo_settings.json",
                       {k: v for k, v in asdict(args).items() if k not in RESUMABLE_CHANGES})
    if model is None:
        model, prompt = load_world_model_run(Path(args.wm_run_dir), args.task)
    if env_factory is None:
        import gymnasium as gym

        import vpt_gym  # noqa: F401  (registers the ids)
        from benchmarks.genrl_multitask import env_id

        env_factory = lambda: gym.make(env_id(args.task), render_quality="fast")  # noqa: E731
    started = time.perf_counter()
    seeds = {}
    with tqdm(total=args.seeds * len(rungs), desc="ppo rungs", disable=not args.progress) as bar:
        for seed in range(args.seeds):
            bar.update(sum((run_dir / f"seed{seed}" / f"rung{r}.json").is_file() for r in rungs))
            seeds[seed] = run_seed(args, seed, model, prompt, env_factory, run_dir, bar)
    baselines = Path(args.wm_run_dir) / args.task / "baselines.json"
    results = {"task": args.task, "vlm": model.vlm_label, "args": asdict(args),
               "summary": summarise(args.task, seeds),
               "baselines": {k: float(np.mean(v["task_returns"])) for k, v in json.loads(baselines.read_text()).items()}
               if baselines.is_file() else None,
               "wall_s_this_call": time.perf_counter() - started}
    _save(run_dir / "results.json", results)
    return results


def format_report(results: dict[str, Any]) -> str:
    """A Markdown table of :func:`run`'s results."""
    a, s = results["args"], results["summary"]

    def interval(ci: Any, digits: int = 0) -> str:
        return f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else ""

    lines = [f"PPO on GenRL's prompt reward, task {results['task']}: {s['n_seeds']} seeds, {a['eval_episodes']} "
             f"eval episodes per rung and seed (deterministic policy). VLM: {results['vlm']}.", "",
             "| env steps | GT return [95% CI] (seed means) | normalised | prompt reward/step (step std) "
             "| training episodes' prompt return |", "|---|---|---|---|---|"]
    for rung, r in s["rungs"].items():
        norm = "–" if r["normalized"] is None else f"{r['normalized']:.3f}"
        train = "–" if r["train_prompt_return"] is None else f"{r['train_prompt_return']:.1f}"
        d = 1 if abs(r["mean_return"]) < 10 else 0  # small returns (cheetah's 0.4) need a decimal
        lines.append(f"| {rung} | {r['mean_return']:.1f}{interval(r['ci'], d)} (seeds {r['seed_mean_range'][0]:.{d}f}.."
                     f"{r['seed_mean_range'][1]:.{d}f}) | {norm} | {r['prompt_reward']:.3f} ({r['prompt_step_std']:.3f}) "
                     f"| {train} |")
    lines.append("")
    for key, name in (("gt_change", "GT return"), ("prompt_change", "prompt reward/step")):
        c = s[key]
        digits = 1 if key == "gt_change" else 3
        lines.append(f"{name}, rung {c['from']} -> {c['to']} (paired by reset seed): {c['mean']:+.{digits}f}"
                     f"{interval(c['ci'], digits)}, {c['seeds_up']}/{s['n_seeds']} seeds up: "
                     f"{'improved' if c['improved'] else 'NOT improved (CI includes or is below 0)'}.")
    if results.get("baselines"):
        lines.append("Same reset seeds, genrl_multitask's baselines: " +
                     ", ".join(f"{k} {v:.1f}" for k, v in results["baselines"].items()) + ".")
        last = list(s["rungs"].values())[-1]["mean_return"]  # summarise keeps the rungs in ladder order
        random = results["baselines"].get("random")
        if random is not None and last <= random:
            lines.append(f"The last rung's GT return ({last:.1f}) is not above random's ({random:.1f}): whatever the "
                         "change, PPO has not learned the task; a prompt reward that rose meanwhile was met without it.")
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> Args:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.genrl_reward_ppo", description=__doc__.splitlines()[0])
    add_flags(parser, Args(), types={"threads": int})
    ns = parser.parse_args(argv)
    return Args(**{**asdict(Args()), **overrides(ns, Args())})


def _main(args: Args) -> int:
    args.rungs()  # a bad ladder fails before anything loads
    print(format_report(run(args)))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    from vpt_gym.user_errors import run_command

    os.environ.setdefault("MUJOCO_GL", "egl")
    return run_command("python -m benchmarks.genrl_reward_ppo", _main, parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
