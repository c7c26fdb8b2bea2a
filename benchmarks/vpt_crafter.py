"""The whole VPT method on Crafter, as one resumable pipeline (issue 10).

Run: ``python -m benchmarks.vpt_crafter [--quick] [--run-dir DIR] [--threads 1] [--json out.json]``

Stages (each one's output is kept in ``--run-dir``; a stage whose result file ``stages/<name>.json``
exists is skipped, so an interrupted run continues where it stopped; the IDM and BC stages also resume
from their own atomic checkpoints):

1. ``demos``: the scripted demonstrator (``agents.crafter_demonstrator``, the "contractor") plays
   ``labelled_episodes + unlabelled_episodes`` episodes, written in the contractor layout (video +
   per-step jsonl, the ``"crafter"`` action codec of ``agents.vpt.action_codecs``). The labelled set
   keeps its actions (``labelled/``); the unlabelled set is video only (``unlabelled/``), its true
   actions set aside in ``withheld/`` to score the pseudo-labels and to train the "BC on true actions"
   comparison;
2. ``idm``: the VPT IDM with a Crafter head (:data:`agents.vpt.config.CRAFTER_IDM`) trained on the
   labelled set with :func:`agents.vpt.idm_training.train_idm` (the Minecraft IDM's code);
3. ``label``: the IDM pseudo-labels the unlabelled videos (:func:`agents.vpt.labelling.label_directory`,
   windows of ``idm_window`` frames, stride half of it) into ``pseudo/``; accuracy against ``withheld/``;
4. ``bc_true`` / ``bc_pseudo``: the VPT policy with a Crafter head (:data:`agents.vpt.config.CRAFTER_POLICY`)
   cloned with :func:`agents.vpt.bc.train_bc` from the unlabelled videos with the true / pseudo labels;
5. ``ppo_scratch``: PPO (``KLPPO`` with ``kl_coef=0`` and an entropy bonus) from a fresh policy of the same
   architecture, ``rl_steps`` env steps;
6. ``bc_klppo``: KL-regularised PPO (VPT's fine-tuning: ``kl_coef * KL(pi_bc || pi)``) from ``bc_pseudo``,
   the same ``rl_steps``;
7. ``evaluate``: ``eval_episodes`` episodes of ``episode_length`` steps per agent on the same seeds
   (random, the demonstrator, and the five policies, sampling their actions): returns, per-achievement
   success rates and the Crafter score (``vpt_gym.crafter_score``), plus a plot of the success rates
   along the tech tree (``achievements.png``).

Episodes here are ``episode_length`` steps (not the paper's 10000) and the RL budget is ``rl_steps``, so
our scores are not the published ones (1M steps): those are printed in their own table, never mixed in.

Result of the defaults (``python -m benchmarks.vpt_crafter --run-dir /tmp/vpt_crafter_v2 --threads 1``, 60 min,
2026-11-21, another 1-thread job on the other core): pseudo-label accuracy 89.8%; Crafter score random 1.36%,
demonstrator 62.07%, PPO from scratch 3.77%, BC on true actions 1.05%, BC on pseudo-labels 1.24%, BC + KL-PPO
1.42% (40,960 RL steps each). BC on pseudo-labels is as good as BC on true actions; with 15.8k demonstration
frames BC learns wood and water but not the tech tree past the table, so its score stays at random's level.

Example::

    >>> from benchmarks.vpt_crafter import Args
    >>> Args.quick("/tmp/vpt_crafter_quick").rl_steps
    2048
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from benchmarks.stage_progress import StageProgress
from vpt_gym.atomic_file import replace_directory_atomic, write_atomic

__all__ = ["Args", "run", "main", "TECH_TREE", "AGENTS"]

#: Crafter's 22 achievements, the tech tree first (wood -> diamond), then the survival ones.
TECH_TREE: tuple[str, ...] = (
    "collect_wood", "place_table", "make_wood_pickaxe", "make_wood_sword", "collect_stone", "place_stone",
    "make_stone_pickaxe", "make_stone_sword", "collect_coal", "place_furnace", "collect_iron",
    "make_iron_pickaxe", "make_iron_sword", "collect_diamond", "collect_drink", "collect_sapling",
    "place_plant", "eat_plant", "eat_cow", "defeat_zombie", "defeat_skeleton", "wake_up",
)  # fmt: skip

#: Agents evaluated, in the order of the tables.
AGENTS: tuple[str, ...] = ("random", "demonstrator", "ppo_scratch", "bc_true", "bc_pseudo", "bc_klppo")

#: The pipeline's stages, in order (each resumable from its marker file).
STAGES: tuple[str, ...] = ("demos", "idm", "label", "bc_true", "bc_pseudo", "ppo_scratch", "bc_klppo", "evaluate")


@dataclass
class Args:
    """Settings of the pipeline (the default took 60 minutes at 1 thread on this 2-core CPU).

    ``idm_epochs`` is 40 because the IDM learns movement directions late: on the default data its held-out
    accuracy was 31-38% up to about 640 updates (it tells "moved" from "did not" but not where), then rose
    to 77% at 960 and 90% at 1,300 updates (40 epochs). At the earlier default of 12 epochs the pseudo-labels
    were 32% accurate; at 40 they are 90%.

    :param run_dir: where everything is written (stages are skipped when their result exists).
    :param seed: demonstrator episode ``i`` of the labelled set is ``reset(seed=seed + i)``, of the
        unlabelled set ``seed + 1000 + i``; evaluation episodes use ``seed + 10000 + i``; it also seeds
        the networks and PPO.
    :param threads: torch threads.
    :param episode_length: steps per episode (demonstrations, PPO, evaluation).
    :param labelled_episodes: demonstrator episodes with actions (the IDM's data).
    :param unlabelled_episodes: demonstrator episodes whose actions are withheld (pseudo-labelled, BC data).
    :param idm_window: IDM window (training and labelling; labelling stride ``idm_window // 2``).
    :param idm_epochs: IDM epochs over the labelled set. :param idm_batch: IDM windows per update.
    :param idm_lr: IDM learning rate.
    :param bc_epochs: BC epochs. :param bc_batch: BC lanes. :param bc_lr: BC learning rate.
    :param rl_steps: env steps of PPO from scratch and of KL-PPO fine-tuning (each; PPO rounds it up to whole
        rollouts of ``n_envs * n_steps``).
    :param n_envs: parallel envs in PPO. :param n_steps: rollout steps per env (a multiple of the
        policy's chunk length, 16). :param ppo_batch: PPO minibatch (a multiple of 16).
    :param ppo_epochs: PPO epochs per rollout. :param ppo_lr: PPO learning rate (both runs).
    :param ent_coef: entropy bonus of PPO from scratch. :param kl_coef: KL coefficient of the fine-tuning
        (VPT: 0.2, decayed by ``kl_decay`` per iteration).
    :param kl_decay: per-iteration decay of ``kl_coef``.
    :param eval_episodes: evaluation episodes per agent.
    :param progress: progress bars.
    """

    run_dir: str = "runs/vpt_crafter"
    seed: int = 0
    threads: int = 1
    episode_length: int = 500
    labelled_episodes: int = 25
    unlabelled_episodes: int = 40
    idm_window: int = 32
    idm_epochs: int = 40
    idm_batch: int = 8
    idm_lr: float = 1e-3
    bc_epochs: int = 30
    bc_batch: int = 8
    bc_lr: float = 5e-4
    rl_steps: int = 40_960
    n_envs: int = 4
    n_steps: int = 128
    ppo_batch: int = 128
    ppo_epochs: int = 3
    ppo_lr: float = 2.5e-4
    ent_coef: float = 0.01
    kl_coef: float = 0.2
    kl_decay: float = 0.9995
    eval_episodes: int = 20
    progress: bool = True

    @classmethod
    def quick(cls, run_dir: str = "runs/vpt_crafter_quick") -> "Args":
        """A smoke-sized run (well under 3 minutes here): every stage, tiny sizes (numbers mean little)."""
        return cls(
            run_dir=run_dir, episode_length=120, labelled_episodes=2, unlabelled_episodes=3, idm_epochs=3,
            bc_epochs=1, rl_steps=2048, n_envs=2, n_steps=64, ppo_batch=64, ppo_epochs=1, eval_episodes=2,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))


def _stage(run_dir: Path, name: str, fn: Callable[[], dict[str, Any]],
           stages: StageProgress | None = None) -> dict[str, Any]:
    """Run ``fn`` unless ``stages/<name>.json`` exists; record its result and wall time there (and advance the
    pipeline's stage bar, ``stages``, when given)."""
    stages = stages or StageProgress(name, [name], enabled=False)
    marker = run_dir / "stages" / f"{name}.json"
    if marker.is_file():
        tqdm.write(f"[vpt-crafter] {name}: done before, skipped ({marker})")
        stages.skip(name)
        return json.loads(marker.read_text())
    with stages.stage(name):
        started = time.perf_counter()
        result = fn()
        result["seconds"] = time.perf_counter() - started
    _write_json_atomic(marker, result)
    return result


def _crafter_env(length: int) -> Any:
    from vpt_gym.envs.crafter import make

    return make(length=length)


def _episode_result(achievements: list[tuple[str, ...]], returns: list[float]) -> dict[str, Any]:
    from vpt_gym.crafter_score import score_from_success_rates, success_rates

    rates = success_rates(achievements)  # percent
    return {
        "returns": [float(r) for r in returns],
        "achievements": {name: rates[name] / 100.0 for name in TECH_TREE},
        "score": float(score_from_success_rates(rates)),
        "episodes": len(returns),
    }


# --------------------------------------------------------------------------------------------------
# stages
# --------------------------------------------------------------------------------------------------


def _demos(args: Args, root: Path) -> dict[str, Any]:
    """Demonstrator episodes in the contractor layout: labelled/, unlabelled/ (video only), withheld/."""
    from tqdm.auto import tqdm

    from agents.crafter_demonstrator import run_demonstrator, write_episode

    env = _crafter_env(args.episode_length)
    sets = [("labelled", args.labelled_episodes, args.seed), ("unlabelled", args.unlabelled_episodes, args.seed + 1000)]
    steps = {"labelled": 0, "unlabelled": 0}
    achievements: list[tuple[str, ...]] = []
    bar = tqdm(total=args.labelled_episodes + args.unlabelled_episodes, unit="episode", desc="demonstrations",
               disable=not args.progress)  # fmt: skip
    for name, n, first_seed in sets:
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / "withheld").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            stem = root / name / f"episode-{first_seed + i:05d}"
            (episode,) = run_demonstrator(env, 1, first_seed + i)
            write_episode(episode, stem)
            if name == "unlabelled":  # withhold the actions: the video alone stays in unlabelled/
                os.replace(stem.with_suffix(".jsonl"), root / "withheld" / f"{stem.name}.jsonl")
            steps[name] += len(episode)
            achievements.append(episode.achievements)
            bar.update(1)
    bar.close()
    return {"labelled_steps": steps["labelled"], "unlabelled_steps": steps["unlabelled"],
            "demo_achievements": [list(a) for a in achievements]}  # fmt: skip


def _idm(args: Args, root: Path) -> dict[str, Any]:
    from agents.vpt.config import CRAFTER_IDM
    from agents.vpt.idm_training import IDMTrainingConfig, train_idm

    config = dataclasses.replace(CRAFTER_IDM, timesteps=args.idm_window)
    result = train_idm(IDMTrainingConfig(
        data=str(root / "labelled"), out_dir=str(root / "idm"), model=config.to_dict(), val_fraction=0.2,
        window=args.idm_window, batch_size=args.idm_batch, epochs=args.idm_epochs, lr=args.idm_lr,
        seed=args.seed, checkpoint_every=200, log_every=50, log_formats=("csv",), progress=args.progress,
        prefetch=0,
    ))  # fmt: skip
    metrics = result.metrics.summary() if result.metrics is not None else {}
    return {"steps": result.steps, "final_loss": result.losses[-1] if result.losses else None, "val": metrics}


def _label(args: Args, root: Path) -> dict[str, Any]:
    from agents.vpt.action_codecs import CrafterStepDecoder
    from agents.vpt.contractor import read_jsonl
    from agents.vpt.idm_training import IDMLabeller
    from agents.vpt.labelling import label_directory

    labeller = IDMLabeller(str(root / "idm" / "final"))
    report = label_directory(
        root / "unlabelled", labeller, root / "pseudo", window=args.idm_window, stride=max(1, args.idm_window // 2),
        resolution=labeller.resolution, action_codec="crafter", progress=args.progress,
    )  # fmt: skip
    if report.failed:
        raise RuntimeError(f"pseudo-labelling failed for {report.failed}")
    correct = total = 0
    confusion = np.zeros((17, 17), np.int64)  # [true, predicted]
    for pseudo in sorted((root / "pseudo").glob("*.jsonl")):
        true_dec, pred_dec = CrafterStepDecoder(str(pseudo)), CrafterStepDecoder(str(pseudo))
        truth = [true_dec.convert(s)[0]["action"] for s in read_jsonl(root / "withheld" / pseudo.name)]
        guess = [pred_dec.convert(s)[0]["action"] for s in read_jsonl(pseudo)]
        if len(truth) != len(guess):
            raise RuntimeError(f"{pseudo}: {len(guess)} pseudo-labels for {len(truth)} withheld actions")
        np.add.at(confusion, (np.asarray(truth), np.asarray(guess)), 1)
        correct += sum(t == g for t, g in zip(truth, guess))
        total += len(truth)
    return {"idm_accuracy": correct / max(total, 1), "frames": total, "confusion": confusion.tolist()}


def _bc(args: Args, root: Path, labels: str, name: str) -> dict[str, Any]:
    from agents.vpt.bc import BCConfig, train_bc
    from agents.vpt.config import CRAFTER_POLICY

    result = train_bc(BCConfig(
        data=str(root / "unlabelled"), labels=str(root / labels), out_dir=str(root / name),
        policy=CRAFTER_POLICY.to_dict(), batch_size=args.bc_batch, epochs=args.bc_epochs, lr=args.bc_lr,
        drop_null="none", seed=args.seed, checkpoint_every=200, log_every=50, log_formats=("csv",),
        progress=args.progress, prefetch=0,
    ))  # fmt: skip
    k = max(1, len(result.losses) // 10)
    return {"steps": result.steps, "first_loss": float(np.mean(result.losses[:k])) if result.losses else None,
            "last_loss": float(np.mean(result.losses[-k:])) if result.losses else None}  # fmt: skip


def _vec_env(args: Args, seed: int) -> Any:
    from stable_baselines3.common.env_util import make_vec_env

    return make_vec_env(lambda: _crafter_env(args.episode_length), n_envs=args.n_envs, seed=seed)


def _rl(args: Args, root: Path, name: str, init_from: str | None) -> dict[str, Any]:
    import torch

    from agents.sb3.kl_ppo import KLPPO
    from agents.sb3.vpt_policy import VPTActorCriticPolicy
    from agents.vpt.config import CRAFTER_POLICY

    env = _vec_env(args, args.seed + 20_000)
    common = dict(n_steps=args.n_steps, batch_size=args.ppo_batch, n_epochs=args.ppo_epochs,
                  learning_rate=args.ppo_lr, seed=args.seed, verbose=0, device="cpu")  # fmt: skip
    torch.manual_seed(args.seed)
    if init_from is None:
        model = KLPPO(VPTActorCriticPolicy, env, policy_kwargs={"vpt_config": CRAFTER_POLICY.to_dict()},
                      kl_coef=0.0, ent_coef=args.ent_coef, **common)  # fmt: skip
    else:
        model = KLPPO.from_pretrained(init_from, env, kl_coef=args.kl_coef, kl_decay=args.kl_decay, **common)
    model.learn(args.rl_steps, progress_bar=args.progress)
    out = root / name
    replace_directory_atomic(out, model.policy.save_pretrained)
    env.close()
    kl = model.logger.name_to_value.get("train/kl_ref")
    return {"env_steps": int(model.num_timesteps), "last_kl_ref": None if kl is None else float(kl)}


def _evaluate_policy(args: Args, policy_dir: Path | None, kind: str) -> dict[str, Any]:
    """``eval_episodes`` episodes (seeds ``seed + 10000 + i``), all run in lockstep (one batched policy call per step)."""
    import torch

    n = args.eval_episodes
    envs = [_crafter_env(args.episode_length) for _ in range(n)]
    seeds = [args.seed + 10_000 + i for i in range(n)]
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)])
    done = np.zeros(n, bool)
    returns = np.zeros(n)
    achievements: list[tuple[str, ...]] = [()] * n
    rng = np.random.default_rng(args.seed + 10_000)
    policy, state, demonstrators = None, None, []
    if kind == "policy":
        from agents.sb3.vpt_policy import VPTActorCriticPolicy

        policy = VPTActorCriticPolicy.load(str(policy_dir), device="cpu")
        torch.manual_seed(args.seed + 10_000)
    elif kind == "demonstrator":
        from agents.crafter_demonstrator import CrafterDemonstrator

        demonstrators = [CrafterDemonstrator(np.random.default_rng(s)) for s in seeds]
        for d, env in zip(demonstrators, envs):
            d.reset(env)
    first = np.ones(n, bool)
    while not done.all():
        if policy is not None:
            actions, state = policy.predict(obs, state, episode_start=first)
        elif demonstrators:
            actions = np.array([d.act(env) if not x else 0 for d, env, x in zip(demonstrators, envs, done)])
        else:
            actions = rng.integers(0, 17, n)
        first[:] = False
        for i, env in enumerate(envs):
            if done[i]:
                continue
            obs[i], reward, terminated, truncated, info = env.step(int(actions[i]))
            returns[i] += float(reward)
            if terminated or truncated:
                done[i] = True
                achievements[i] = tuple(info["episode_achievements"])
    return _episode_result(achievements, returns.tolist())


def _evaluate(args: Args, root: Path) -> dict[str, Any]:
    agents: dict[str, Any] = {}
    for name in AGENTS:
        started = time.perf_counter()
        kind = name if name in ("random", "demonstrator") else "policy"
        policy_dir = None
        if kind == "policy":
            policy_dir = root / name / "final" if name.startswith("bc_") and name != "bc_klppo" else root / name
        agents[name] = _evaluate_policy(args, policy_dir, kind)
        tqdm.write(f"[vpt-crafter] evaluated {name}: score {agents[name]['score']:.2f}% "
              f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    return {"agents": agents}


# --------------------------------------------------------------------------------------------------
# the pipeline
# --------------------------------------------------------------------------------------------------


def run(args: Args) -> dict[str, Any]:
    """Run (or resume) the pipeline; see the module docstring.

    :return: ``{"env_steps": {"ppo_scratch", "bc_klppo"}, "idm_accuracy", "labelled_steps",
        "unlabelled_steps", "timings_s": {stage: seconds}, "agents": {name: {"returns", "achievements"
        (success rate in [0, 1] per achievement), "score" (Crafter score, %), "episodes"}}}``.
    """
    import torch

    torch.set_num_threads(args.threads)
    root = Path(args.run_dir)
    root.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(root / "args.json", dataclasses.asdict(args))
    bar = StageProgress("vpt_crafter", STAGES, enabled=args.progress)
    stages: dict[str, dict[str, Any]] = {}
    try:
        stages["demos"] = _stage(root, "demos", lambda: _demos(args, root), bar)
        stages["idm"] = _stage(root, "idm", lambda: _idm(args, root), bar)
        stages["label"] = _stage(root, "label", lambda: _label(args, root), bar)
        stages["bc_true"] = _stage(root, "bc_true", lambda: _bc(args, root, "withheld", "bc_true"), bar)
        stages["bc_pseudo"] = _stage(root, "bc_pseudo", lambda: _bc(args, root, "pseudo", "bc_pseudo"), bar)
        stages["ppo_scratch"] = _stage(root, "ppo_scratch", lambda: _rl(args, root, "ppo_scratch", None), bar)
        stages["bc_klppo"] = _stage(
            root, "bc_klppo", lambda: _rl(args, root, "bc_klppo", str(root / "bc_pseudo" / "final")), bar
        )
        stages["evaluate"] = _stage(root, "evaluate", lambda: _evaluate(args, root), bar)
    finally:
        bar.close()
    result = {
        "env_steps": {"ppo_scratch": int(stages["ppo_scratch"]["env_steps"]),
                      "bc_klppo": int(stages["bc_klppo"]["env_steps"])},
        "idm_accuracy": float(stages["label"]["idm_accuracy"]),
        "labelled_steps": int(stages["demos"]["labelled_steps"]),
        "unlabelled_steps": int(stages["demos"]["unlabelled_steps"]),
        "timings_s": {name: float(stage["seconds"]) for name, stage in stages.items()},
        "agents": stages["evaluate"]["agents"],
    }  # fmt: skip
    _write_json_atomic(root / "result.json", result)
    _plot(result, root / "achievements.png")
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    """Success rate per achievement along the tech tree, one line per agent (like VPT's item plots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4.5))
    x = np.arange(len(TECH_TREE))
    for name, agent in result["agents"].items():
        ax.plot(x, [100 * agent["achievements"][a] for a in TECH_TREE], marker="o", label=f"{name} ({agent['score']:.1f}%)")
    ax.set_xticks(x, [a.replace("_", " ") for a in TECH_TREE], rotation=60, ha="right")
    ax.set_ylabel("success rate (% of episodes)")
    ax.set_title(f"Crafter achievements along the tech tree (PPO / KL-PPO: {result['env_steps']['ppo_scratch']} env steps)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)


def print_report(result: dict[str, Any]) -> None:
    """The result as tables: agents, per-achievement success rates, and the published numbers apart."""
    from benchmarks.published import CRAFTER_SCORES, CRAFTER_SOURCE

    steps = result["env_steps"]
    print(f"\nlabelled {result['labelled_steps']} steps, unlabelled {result['unlabelled_steps']} steps, "
          f"IDM pseudo-label accuracy {100 * result['idm_accuracy']:.1f}%, RL budget: PPO {steps['ppo_scratch']}, "
          f"KL-PPO {steps['bc_klppo']} env steps (+ the demonstrations for BC)")  # fmt: skip
    base = result["agents"]["random"]["score"]
    print("\n| agent | Crafter score % (ours) | ratio to random | mean return | episodes |")
    print("|---|---|---|---|---|")
    for name, agent in result["agents"].items():
        ratio = agent["score"] / base if base > 0 else float("nan")
        print(f"| {name} | {agent['score']:.2f} | {ratio:.2f} | {np.mean(agent['returns']):.2f} | {agent['episodes']} |")
    names = list(result["agents"])
    print("\n| achievement | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for a in TECH_TREE:
        print(f"| {a} | " + " | ".join(f"{100 * result['agents'][n]['achievements'][a]:.0f}" for n in names) + " |")
    print("\n| stage | seconds |\n|---|---|")
    for stage, seconds in result["timings_s"].items():
        print(f"| {stage} | {seconds:.0f} |")
    print(f"\nPublished, NOT comparable (1M env steps, 10000-step episodes): {CRAFTER_SOURCE}")
    print("| agent | published Crafter score % |\n|---|---|")
    for name, score in CRAFTER_SCORES.items():
        print(f"| {name} | {score} |")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="The VPT method on Crafter: demonstrations -> IDM -> BC -> KL-PPO")
    parser.add_argument("--quick", action="store_true", help="smoke-sized run (< 3 minutes)")
    parser.add_argument("--run-dir", default=None, help="output directory (stages found there are skipped)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--json", default=None, help="also write the result here")
    ns = parser.parse_args(argv)
    args = Args.quick() if ns.quick else Args()
    if ns.run_dir is not None:
        args.run_dir = ns.run_dir
    args.threads, args.progress = ns.threads, not ns.no_progress
    result = run(args)
    print_report(result)
    if ns.json:
        _write_json_atomic(Path(ns.json), result)
    return result


if __name__ == "__main__":
    main()
