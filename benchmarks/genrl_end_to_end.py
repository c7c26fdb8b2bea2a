"""GenRL end to end on one domain: exploration data -> MFWM -> video prompt -> data-free behaviour -> real env.

Run: ``python -m benchmarks.genrl_end_to_end`` (walker; about 31 minutes at ``--threads 1`` on a 2-core CPU
with the defaults; ``--tiny`` for a half-minute smoke run into ``runs/genrl_end_to_end_tiny``; the environment
variable ``GENRL_END_TO_END_PRESET=tiny`` gives the same smoke settings in the usual ``runs/genrl_end_to_end``,
for scripts whose next steps read that directory, such as the README's examples). A run directory remembers
the settings it was made with (``settings.json``) and refuses to resume under others, except for more
``--episodes``, ``--wm-steps`` or ``--behaviour-steps`` (continued stages) and the evaluation-only flags. One default run (2026-11-21, ``--threads 1``):
GenRL data-free 606 +- 20 (normalised 0.54) vs random 447 +- 68 (0.34) vs zero action 694 +- 282 (0.65), the
VLM being the random-features stand-in. That run predates two changes and says little about GenRL: it trained
the world model at GenRL's lr 1e-4, at which this small model's posterior ignores the frames (measured
2026-12-03 on the same data: after 200 and 300 updates every categorical takes the same class on all 200
frames of an episode, so the online prompt reward is exactly constant and all prompts get the same target;
``--wm-lr`` now defaults to 1e-3, at which the posterior uses its latent after about 200 updates), and its
lying-down prompt lay face down (0.49 of that task's reward; now on its back, 0.97). The default prompt is the lying-down pose (GenRL's
``walker_lying_down`` task): random exploration data holds mostly fallen walkers, so the model knows
that pose; ``--pose stand`` asks for standing (``walker_stand``), which random data shows only at episode
starts. Stages, each resumable from ``--run-dir`` (re-running skips finished
stages and continues interrupted training from its checkpoint):

1. **data**: ``--episodes`` random-action episodes of ``walker-<--data-task>`` (500 agent steps each, 64x64
   pixels, GenRL's settings) into an episode store. Each uniform random action is held for 1..16 agent steps
   (:class:`HeldRandomActions`; ``--exploration uniform`` draws a new one every step, which made the first
   proof run fail: see that class);
2. **embed**: each episode gets ``clip_video`` (T, D): the VLM embedding of frames [t-7..t], zeros for the
   first 7 steps, as the reference's ``process_episode``;
3. **world model**: a small MFWM (``WorldModelConfig.small``) plus connector and aligner trained on that data
   (``agents.genrl.train_world_model``);
4. **prompt**: a short clip of the target pose rendered from the simulator by setting the walker's joint
   positions (``--pose stand``: upright; ``lying_down``: torso horizontal on the floor), written to
   ``prompt.gif`` and given to the behaviour learner as a video file;
5. **behaviour**: data-free actor-critic in imagination (``agents.genrl.behaviour``, spec 5.3);
6. **eval**: the learned policy and a uniform random policy in the real env with the task's ground-truth
   reward; the table reports mean returns, normalised scores ``(R - random) / (expert - random)`` from GenRL's
   task table, and the ratio of the two returns (same run, same seeds); a zero-action policy is a third row,
   since some poses (lying down) need little behaviour;
7. **prompt-reward check**: ``--check-episodes`` real episodes per policy scored by GenRL's prompt reward
   (:func:`prompt_reward_check`): a reward that ranks the policies like the ground truth while the learned one
   scores low means the actor exploited the model's imagination.

The VLM is ``--vlm`` (default ``random-features``: a seeded random-feature video encoder, an offline
stand-in, NOT a pretrained vision-language model); every line of the report names it.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from benchmarks.dataclass_flags import add_flags, overrides
from benchmarks.stage_progress import StageProgress
from vpt_gym.atomic_file import write_atomic

POSES = ("stand", "lying_down")
EXPLORATIONS = ("held", "uniform")
POSE_TASK = {"stand": "walker_stand", "lying_down": "walker_lying_down"}
#: environment variable choosing the preset of :func:`parse_args` ("default" or "tiny") in the usual run directory
PRESET_ENV = "GENRL_END_TO_END_PRESET"
#: settings a run directory may be resumed under with another value (more of a stage, or evaluation only)
RESUMABLE_CHANGES = frozenset({"run_dir", "progress", "threads", "episodes", "wm_steps", "behaviour_steps",
                               "eval_task", "eval_episodes", "check_episodes"})
STAGES = ("data", "embed", "world_model", "prompt", "behaviour", "eval", "prompt_reward_check")


@dataclass
class Args:
    """:param run_dir: output and resume directory. :param vlm: VLM registry name.
    :param pose: target pose of the prompt video. :param eval_task: GenRL task evaluated (None: the pose's task).
    :param data_task: walker task whose env collects the exploration data.
    :param episodes: exploration episodes. :param exploration: ``"held"`` (default: uniform random actions, each
        held for a random 1..``max_hold`` agent steps, see :class:`HeldRandomActions`) or ``"uniform"`` (a new
        uniform random action every step). :param max_hold: longest hold of ``"held"`` exploration.
    :param wm_steps: world-model updates.
    :param wm_batch, wm_length: world-model batch (length a multiple of 8).
    :param wm_lr: Adam learning rate of world model and connector (GenRL's is 1e-4; at 1e-4 the small model's
        posterior stayed input-independent through 300 updates, so every frame had the same latent mode and
        the prompt reward was saturated; 1e-3 is this CPU-sized run's setting, see genrl_multitask).
    :param behaviour_steps: actor-critic updates.
    :param behaviour_batch, behaviour_length: start states per update = batch x length.
    :param behaviour_lr: actor and critic learning rate (None: ``BehaviourConfig.small``'s 1e-3).
    :param eval_episodes: evaluation episodes per policy.
    :param check_episodes: episodes per policy of the prompt-reward check (0 skips it). :param seed: seed of every stage.
    :param threads: torch CPU threads (None: torch's default).
    :param progress: progress bars.
    """

    run_dir: str = "runs/genrl_end_to_end"
    vlm: str = "random-features"
    pose: str = "lying_down"
    eval_task: Optional[str] = None
    data_task: str = "walk"
    episodes: int = 20
    exploration: str = "held"
    max_hold: int = 16
    wm_steps: int = 1200
    wm_batch: int = 16
    wm_length: int = 64
    wm_lr: Optional[float] = 1e-3
    behaviour_steps: int = 2000
    behaviour_batch: int = 32
    behaviour_length: int = 16
    behaviour_lr: Optional[float] = None
    eval_episodes: int = 5
    check_episodes: int = 2
    seed: int = 0
    threads: Optional[int] = None
    progress: bool = True

    @classmethod
    def tiny(cls, run_dir: str = "runs/genrl_end_to_end_tiny") -> "Args":
        """A smoke-test configuration (about a minute): checks every stage runs, measures nothing."""
        return cls(run_dir=run_dir, episodes=2, wm_steps=4, wm_batch=4, wm_length=16, behaviour_steps=3,
                   behaviour_batch=4, behaviour_length=4, eval_episodes=1, check_episodes=1)


# --------------------------------------------------------------------------------------------- stages
class HeldRandomActions:
    """Exploration policy: a uniform random action held for a random number of steps (1..``max_hold``).

    Why (issue #7): with a new uniform random action every step (i.i.d., zero mean) the walker only flails;
    a world model trained on such data has never seen an action *held* for many steps, nor the poses that
    sustained actions reach (bridges, splits, curled legs). Behaviour learning then exploits exactly that
    gap: the first proof run's actor converged to constant saturated actions (|a| ~ 0.98, step-to-step change
    0.03) that the model imagined as lying flat (prompt reward 0.59 vs 0.43 for zero actions in imagination)
    while the real walker arched into a bridge (real prompt reward 0.17, GT return 221 vs 447 for random
    actions). GenRL's own datasets come from DreamerV3 and Plan2Explore agents (spec section 7), whose actions
    are temporally correlated; random holds are the cheapest stand-in for that coverage. A hold of 1 step is
    the old i.i.d. exploration, so both kinds of data are present.

    :param action_space: a Box action space (actions are drawn from its bounds).
    :param max_hold: longest hold in agent steps (hold lengths are uniform over 1..max_hold).
    :param seed: seed of the draws.

    Example::

        >>> import gymnasium as gym
        >>> policy = HeldRandomActions(gym.spaces.Box(-1.0, 1.0, (2,)), max_hold=4, seed=0)
        >>> actions = np.stack([policy(None) for _ in range(12)])
        >>> actions.shape, bool((np.abs(actions) <= 1).all())
        ((12, 2), True)
    """

    def __init__(self, action_space: Any, max_hold: int = 16, seed: int = 0) -> None:
        low, high = np.asarray(action_space.low, np.float32), np.asarray(action_space.high, np.float32)
        if not isinstance(max_hold, int) or isinstance(max_hold, bool) or max_hold < 1:
            raise ValueError(f"max_hold must be a positive int, got {max_hold!r}")
        if low.shape != high.shape or low.ndim != 1 or not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(f"HeldRandomActions needs a bounded 1-d Box action space, got {action_space}")
        self.low, self.high, self.max_hold = low, high, max_hold
        self.rng = np.random.default_rng(seed)
        self._action = low
        self._left = 0

    def __call__(self, observation: Any) -> np.ndarray:
        if self._left == 0:
            self._action = self.rng.uniform(self.low, self.high).astype(np.float32)
            self._left = int(self.rng.integers(1, self.max_hold + 1))
        self._left -= 1
        return self._action.copy()


def exploration_policy(name: str, action_space: Any, max_hold: int = 16, seed: int = 0
                       ) -> Optional[Callable[[Any], np.ndarray]]:
    """The data-collection policy ``name`` (see :data:`EXPLORATIONS`); None means i.i.d. uniform actions."""
    if name not in EXPLORATIONS:
        raise ValueError(f"unknown exploration {name!r}; expected one of {EXPLORATIONS}")
    return None if name == "uniform" else HeldRandomActions(action_space, max_hold, seed)


def evaluate_constant(env_id: Any, episodes: int, seed: int = 0, task: Optional[str] = None,
                      **env_kwargs: Any) -> dict[str, Any]:
    """A trivial baseline: the all-zero action every step (tells whether a score needs any behaviour at all)."""
    from agents.genrl.behaviour import _make_env, _summary, run_episodes

    env = _make_env(env_id, **env_kwargs)
    zeros = np.zeros(env.action_space.shape, np.float32)
    out = _summary(env_id, run_episodes(env, lambda o: zeros, episodes, seed), task)
    out["label"] = "zero action"
    return out



def prompt_reward_check(model: Any, prompt: Any, env_factory: Callable[[], Any],
                        policies: dict[str, Any], episodes: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """Real episodes of each policy scored by GenRL's prompt reward (:class:`wrappers.genrl_reward.GenRLReward`).

    This is the check that tells a reward problem from a behaviour-learning problem: if the prompt reward
    ranks the policies like the task's ground truth does but the learned policy scores low, the actor
    exploited the world model's imagination; if the reward itself ranks them wrongly, the
    prompt/connector/reward path is at fault.

    :param model: the MFWM. :param prompt: the prompt (as given to the behaviour learner).
    :param env_factory: makes the (unwrapped) evaluation env.
    :param policies: name -> ``act(obs) -> action``, or an object with ``reset(obs[None])``, ``act()`` and
        ``observe(obs[None], action[None])`` (a :class:`~agents.genrl.behaviour.GenRLPolicy`).
    :param episodes: episodes per policy (episode i reset with ``seed + i``).
    :return: name -> {"prompt_reward_per_step", "task_return"} (means over the episodes), the per-episode
        ``task_returns`` and ``prompt_reward_means``, and the spread of the per-step rewards
        (:func:`step_spread`: ``step_std``, ``step_p05``, ``step_p95``, ``step_min``, ``step_max``).
    """
    from wrappers.genrl_reward import GenRLReward

    env = GenRLReward(env_factory(), model, prompt)
    out: dict[str, dict[str, float]] = {}
    for name, policy in policies.items():
        stateful = hasattr(policy, "observe")
        prompt_means, task_returns, steps = [], [], []
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            if stateful:
                policy.reset(np.asarray(obs)[None])
            rewards, task, done = [], 0.0, False
            while not done:
                action = policy.act()[0] if stateful else policy(obs)
                obs, r, terminated, truncated, info = env.step(action)
                rewards.append(float(r))
                task += info["task_reward"]
                done = bool(terminated or truncated)
                if stateful and not done:
                    policy.observe(np.asarray(obs)[None], np.asarray(action)[None])
            prompt_means.append(float(np.mean(rewards)))
            task_returns.append(task)
            steps.extend(rewards)
        out[name] = {"prompt_reward_per_step": float(np.mean(prompt_means)),
                     "task_return": float(np.mean(task_returns)),
                     "task_returns": task_returns, "prompt_reward_means": prompt_means,
                     **step_spread(steps)}
    env.close()
    return out


def step_spread(rewards: Sequence[float]) -> dict[str, float]:
    """How much per-step prompt rewards vary: their std, 5th/95th percentiles and range (a saturated reward
    has all of them near 0 / near its mean)."""
    r = np.asarray(rewards, np.float64)
    if r.size == 0:
        return {"step_std": float("nan"), "step_p05": float("nan"), "step_p95": float("nan"),
                "step_min": float("nan"), "step_max": float("nan")}
    return {"step_std": float(r.std()), "step_p05": float(np.percentile(r, 5)), "step_p95": float(np.percentile(r, 95)),
            "step_min": float(r.min()), "step_max": float(r.max())}


def embed_episodes(store: Any, vlm: Any, batch: int = 64, progress: bool = False) -> int:
    """Add ``clip_video`` (T, D) to every episode file of ``store`` that lacks it; return how many were embedded.

    The values are :func:`agents.genrl.embeddings.window_embeddings` (step t: the window of k frames ending at
    t; zeros for t < k - 1, GenRL's ``process_episode``). They are written *into* the episode files (atomically)
    because :func:`agents.genrl.train_world_model.train` reads ``clip_video`` from the episodes themselves.
    """
    from tqdm.auto import tqdm

    from agents.genrl.embeddings import window_embeddings

    done = 0
    for path in tqdm(list(store.paths), desc="embed", unit="ep", disable=not progress):
        with np.load(path, allow_pickle=False) as data:
            if "clip_video" in data.files:
                continue
            arrays = {k: data[k] for k in data.files}
        arrays["clip_video"] = window_embeddings(arrays["observation"], vlm, batch_size=batch)
        write_atomic(path, lambda tmp, arrays=arrays: np.savez_compressed(tmp, **arrays), durable=True)
        done += 1
    store._cache.clear()
    return done


def render_pose_clip(pose: str, frames: int = 8, seed: int = 0) -> np.ndarray:
    """A (frames, 64, 64, 3) uint8 clip of the walker held in ``pose`` (joint positions set directly, with a
    slight sway of the hips so the clip is not a single repeated image; see
    :func:`benchmarks.genrl_prompt_clips.render_task_clip`)."""
    if pose not in POSES:
        raise ValueError(f"unknown pose {pose!r}; expected one of {POSES}")
    from benchmarks.genrl_prompt_clips import render_task_clip

    return render_task_clip(POSE_TASK[pose], frames=frames, seed=seed)[0]


def train_stage(data_dir: Path, run_dir: Path, args: Any, cache_episodes: int = 16) -> Path:
    from agents.genrl.train_world_model import Args as TrainArgs, train

    train(TrainArgs(data_dir=str(data_dir), run_dir=str(run_dir), config="small", steps=args.wm_steps,
                    batch_size=args.wm_batch, batch_length=args.wm_length, seed=args.seed,
                    checkpoint_every=max(1, min(100, args.wm_steps)), progress=args.progress,
                    train_connector=True, log_every=max(1, min(10, args.wm_steps)), lr=getattr(args, "wm_lr", None),
                    cache_episodes=cache_episodes))
    return run_dir / "checkpoint.safetensors"


def world_model_stages(args: Any, run_dir: Path, vlm: Any, stages: StageProgress,
                       env_factory: Optional[Callable[[], Any]] = None, domain: str = "walker") -> Any:
    """Stages 1-3 (data, embed, world model) into ``run_dir``; return the trained MFWM.

    :param args: any object with this module's data and world-model fields (``episodes``, ``data_task``,
        ``exploration``, ``max_hold``, ``seed``, ``wm_steps``, ``wm_batch``, ``wm_length``, ``progress``), such as
        :class:`Args` or :class:`benchmarks.genrl_multitask.Args`; with ``agent_tasks`` (see
        :func:`benchmarks.genrl_task_agent_data.agent_tasks`) and ``agent_steps``, the data also holds the
        episodes of SAC agents learning those tasks (:mod:`benchmarks.genrl_task_agent_data`).
    :param stages: the run's stage bar (stages ``data``, ``embed``, ``world_model``).
    :param env_factory: data-collection env (default: ``domain``-``args.data_task``, fast rendering).
    """
    from agents.genrl.episodes import EpisodeStore, collect
    from agents.genrl.reward import MFWM
    from benchmarks.genrl_task_agent_data import agent_tasks, collect_all

    with stages.stage("data"):
        store = EpisodeStore(run_dir / "data")
        have = sum(path.parent == store.directory for path in store.paths)  # exploration episodes (not agents')
        if have < args.episodes:
            if env_factory is None:
                from vpt_gym.envs.dmc import make

                env = make(domain, args.data_task, seed=args.seed, render_quality="fast")
            else:
                env = env_factory()
            explore = exploration_policy(args.exploration, env.action_space, args.max_hold, args.seed + have)
            collect(env, explore, args.episodes - have, store, seed=args.seed + have, progress=args.progress)
            env.close()
        tasks = agent_tasks(domain, getattr(args, "agent_tasks", ""))
        if tasks:  # replay of SAC agents learning the domain's tasks, as GenRL's datasets hold (spec section 7)
            collect_all(domain, tasks, args.agent_steps, store.directory, seed=args.seed, progress=args.progress)
            store.refresh()

    with stages.stage("embed"):
        embed_episodes(store, vlm, progress=args.progress)

    with stages.stage("world_model"):
        ckpt = train_stage(run_dir / "data", run_dir / "world_model", args, cache_episodes=min(256, max(16, len(store))))
    return MFWM.from_checkpoint(ckpt, vlm)


def check_run_settings(settings_file: Path, settings: dict[str, Any]) -> None:
    """Record ``settings`` in a new run directory, or refuse (:class:`UsageError`) one made with other settings.

    :param settings_file: the run directory's settings file (written atomically when absent).
    :param settings: the settings that must match for a resume.
    """
    from vpt_gym.user_errors import UsageError

    run_dir = settings_file.parent
    if settings_file.is_file():
        try:
            made_with = json.loads(settings_file.read_text())
            assert isinstance(made_with, dict)
        except (ValueError, AssertionError, UnicodeDecodeError):
            raise UsageError(f"{settings_file} is not a settings file of this benchmark; pass --run-dir DIR for a "
                             "new run or delete that directory") from None
        changed = sorted(k for k in set(made_with) | set(settings) if made_with.get(k) != settings.get(k))
        if changed:
            diff = ", ".join(f"{k} {made_with.get(k)!r:.40} -> {settings.get(k)!r:.40}" for k in changed)
            raise UsageError(f"{run_dir} was made with other settings ({diff}); pass --run-dir DIR for a new run "
                             "or delete that directory")
    else:  # a new run (or one from before the settings file existed): record what it is made with
        text = json.dumps(settings, indent=1, sort_keys=True)
        write_atomic(settings_file, lambda tmp: tmp.write_text(text))


def run(args: Args, vlm: Any = None, env_factory: Optional[Callable[[], Any]] = None,
        eval_env: Optional[Callable[[], Any]] = None, prompt_clip: Optional[np.ndarray] = None) -> dict[str, Any]:
    """Run (or resume) every stage; return the results dict (also written to ``run_dir/results.json``).

    :param vlm: a VLM object (default: ``agents.genrl.vlm.load_vlm(args.vlm)``).
    :param env_factory: data-collection env factory (default: walker ``args.data_task``, fast rendering).
    :param eval_env: evaluation env factory (default: ``vpt_gym/<eval task>-v0``).
    :param prompt_clip: prompt frames to use instead of rendering ``args.pose`` (tests).
    """
    import torch


    from agents.genrl.behaviour import BehaviourConfig, evaluate_behaviour, evaluate_random, learn_behaviour
    from agents.genrl.video_file import write_video

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.wm_length % 8:
        raise ValueError(f"wm_length must be a multiple of 8 (the connector's clip length), got {args.wm_length}")
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in asdict(args).items() if k not in RESUMABLE_CHANGES}
    check_run_settings(run_dir / "settings.json", settings)
    task = args.eval_task or POSE_TASK.get(args.pose, "walker_stand")
    if vlm is None:
        from agents.genrl.vlm import load_vlm  # the VLM registry

        vlm = load_vlm(args.vlm)
    vlm_label = getattr(vlm, "name", args.vlm)
    if getattr(vlm, "is_stand_in", False):
        vlm_label += " (offline stand-in: random features, not a pretrained VLM)"

    stages = StageProgress("genrl_end_to_end", STAGES, enabled=args.progress)
    try:
        model = world_model_stages(args, run_dir, vlm, stages, env_factory)

        with stages.stage("prompt"):
            prompt_path = run_dir / "prompt.gif"
            if not prompt_path.exists():
                clip = prompt_clip if prompt_clip is not None else render_pose_clip(args.pose, seed=args.seed)
                write_video(clip, prompt_path)

        with stages.stage("behaviour"):
            lr = {} if args.behaviour_lr is None else {"actor_lr": args.behaviour_lr, "critic_lr": args.behaviour_lr}
            config = BehaviourConfig.small(batch_size=args.behaviour_batch, batch_length=args.behaviour_length, **lr)
            policy = learn_behaviour(model, str(prompt_path), steps=args.behaviour_steps, config=config,
                                     run_dir=run_dir / "behaviour", seed=args.seed, progress=args.progress)

        with stages.stage("eval"):
            env_id = eval_env if eval_env is not None else f"vpt_gym/{task.replace('_', '-', 1)}-v0"
            kwargs = {} if eval_env is not None else {"render_quality": "fast"}
            ours = evaluate_behaviour(policy, model, env_id, args.eval_episodes, seed=10_000 + args.seed, task=task,
                                      progress=args.progress, **kwargs)
            rnd = evaluate_random(env_id, args.eval_episodes, seed=10_000 + args.seed, task=task, **kwargs)
            zero = evaluate_constant(env_id, args.eval_episodes, seed=10_000 + args.seed, task=task, **kwargs)

        check = None
        if args.check_episodes > 0:
            with stages.stage("prompt_reward_check"):
                from agents.genrl.behaviour import _make_env

                space = _make_env(env_id, **kwargs).action_space
                space.seed(args.seed)
                zeros = np.zeros(space.shape, np.float32)
                check = prompt_reward_check(model, str(prompt_path), lambda: _make_env(env_id, **kwargs),
                                            {"genrl": policy, "random": lambda o: space.sample(),
                                             "zero_action": lambda o: zeros},
                                            args.check_episodes, seed=10_000 + args.seed)
        else:
            stages.skip("prompt_reward_check")
    finally:
        stages.close()
    timings = dict(stages.seconds)
    results = {"task": task, "pose": args.pose, "vlm": vlm_label, "genrl": ours, "random": rnd, "zero_action": zero,
               "prompt_reward_check": check,
               "return_ratio": ours["mean_return"] / rnd["mean_return"] if rnd["mean_return"] else None,
               "timings_s": timings, "args": asdict(args),
               "behaviour_metrics": getattr(policy, "last_metrics", {})}
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    return results


def format_table(results: dict[str, Any]) -> str:
    def score(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    rows = [("GenRL data-free (video prompt)", "genrl"), ("random policy", "random")]
    if "zero_action" in results:
        rows.append(("zero action (trivial baseline)", "zero_action"))
    check = results.get("prompt_reward_check") or {}
    lines = [
        f"GenRL end to end - task {results['task']}, prompt: video of pose '{results['pose']}'",
        f"VLM: {results['vlm']}",
        f"{'policy':34s} {'episodes':>8s} {'mean return':>12s} {'std':>8s} {'normalised':>10s} "
        f"{'prompt reward/step':>18s}",
    ]
    for name, key in rows:
        r = results[key]
        prompt = f"{check[key]['prompt_reward_per_step']:.3f}" if key in check else "n/a"
        lines.append(f"{name:34s} {r['episodes']:8d} {r['mean_return']:12.1f} {r['std_return']:8.1f} "
                     f"{score(r['normalized_score']):>10s} {prompt:>18s}")
    if check:
        lines.append(f"prompt reward/step: GenRL's reward of real episodes ({results.get('args', {}).get('check_episodes')} "
                     "per policy, same seeds as the first evaluation episodes)")
    ratio = results["return_ratio"]
    lines.append(f"return ratio GenRL / random: {'n/a' if ratio is None else f'{ratio:.2f}'}")
    lines.append("stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in results["timings_s"].items()))
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> Args:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.genrl_end_to_end", description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true",
                        help="a one-minute smoke configuration that measures nothing, in runs/genrl_end_to_end_tiny "
                             f"(or set {PRESET_ENV}=tiny for the same settings in the usual run directory)")
    add_flags(parser, Args(), types={"eval_task": str, "threads": int, "behaviour_lr": float, "wm_lr": float})
    ns = parser.parse_args(argv)
    preset = os.environ.get(PRESET_ENV, "default")
    if preset not in ("default", "tiny"):
        parser.error(f"{PRESET_ENV}={preset!r}: expected 'default' or 'tiny'")
    if ns.tiny:
        base = asdict(Args.tiny())
    else:
        base = asdict(Args.tiny(run_dir=Args.run_dir) if preset == "tiny" else Args())
    base.update(overrides(ns, Args()))
    if base["pose"] not in POSES:
        parser.error(f"--pose must be one of {POSES}")
    if base["exploration"] not in EXPLORATIONS:
        parser.error(f"--exploration must be one of {EXPLORATIONS}")
    return Args(**base)


def _main(args: Args) -> int:
    results = run(args)
    print(format_table(results))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    from vpt_gym.user_errors import run_command

    os.environ.setdefault("MUJOCO_GL", "egl")
    return run_command("python -m benchmarks.genrl_end_to_end", _main, parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
