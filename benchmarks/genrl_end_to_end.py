"""GenRL end to end on one domain: exploration data -> MFWM -> video prompt -> data-free behaviour -> real env.

Run: ``python -m benchmarks.genrl_end_to_end`` (walker; about 25 minutes on a 2-core CPU with the defaults,
measured per stage: world model ~0.65 s/update x 1200, behaviour ~0.23 s/update x 2000 at 512 start states;
``--tiny`` for a half-minute smoke run). The default prompt is the lying-down pose (GenRL's
``walker_lying_down`` task): uniform-random exploration data holds mostly fallen walkers, so the model knows
that pose; ``--pose stand`` asks for standing (``walker_stand``), which random data shows only at episode
starts. Stages, each resumable from ``--run-dir`` (re-running skips finished
stages and continues interrupted training from its checkpoint):

1. **data**: ``--episodes`` uniform-random-action episodes of ``walker-<--data-task>`` (500 agent steps each,
   64x64 pixels, GenRL's settings) into an episode store;
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
   since some poses (lying down) need little behaviour.

The VLM is ``--vlm`` (default ``random-features``: a seeded random-feature video encoder, an offline
stand-in, NOT a pretrained vision-language model); every line of the report names it.
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

POSES = ("stand", "lying_down")
POSE_TASK = {"stand": "walker_stand", "lying_down": "walker_lying_down"}


@dataclass
class Args:
    """:param run_dir: output and resume directory. :param vlm: VLM registry name.
    :param pose: target pose of the prompt video. :param eval_task: GenRL task evaluated (default: the pose's).
    :param data_task: walker task whose env collects the exploration data.
    :param episodes: exploration episodes. :param wm_steps: world-model updates.
    :param wm_batch, wm_length: world-model batch (length a multiple of 8).
    :param behaviour_steps: actor-critic updates. :param behaviour_batch, behaviour_length: start states.
    :param eval_episodes: evaluation episodes per policy. :param seed: seed. :param threads: torch threads.
    :param progress: progress bars.
    """

    run_dir: str = "runs/genrl_end_to_end"
    vlm: str = "random-features"
    pose: str = "lying_down"
    eval_task: Optional[str] = None
    data_task: str = "walk"
    episodes: int = 20
    wm_steps: int = 1200
    wm_batch: int = 16
    wm_length: int = 64
    behaviour_steps: int = 2000
    behaviour_batch: int = 32
    behaviour_length: int = 16
    eval_episodes: int = 5
    seed: int = 0
    threads: Optional[int] = None
    progress: bool = True

    @classmethod
    def tiny(cls, run_dir: str = "runs/genrl_end_to_end_tiny") -> "Args":
        """A smoke-test configuration (about a minute): checks every stage runs, measures nothing."""
        return cls(run_dir=run_dir, episodes=2, wm_steps=4, wm_batch=4, wm_length=16, behaviour_steps=3,
                   behaviour_batch=4, behaviour_length=4, eval_episodes=1)


# --------------------------------------------------------------------------------------------- stages
def evaluate_constant(env_id: Any, episodes: int, seed: int = 0, task: Optional[str] = None,
                      **env_kwargs: Any) -> dict[str, Any]:
    """A trivial baseline: the all-zero action every step (tells whether a score needs any behaviour at all)."""
    from agents.genrl.behaviour import _make_env, _summary, run_episodes

    env = _make_env(env_id, **env_kwargs)
    zeros = np.zeros(env.action_space.shape, np.float32)
    out = _summary(env_id, run_episodes(env, lambda o: zeros, episodes, seed), task)
    out["label"] = "zero action"
    return out



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
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
        done += 1
    store._cache.clear()
    return done


def render_pose_clip(pose: str, frames: int = 8, seed: int = 0) -> np.ndarray:
    """A (frames, 64, 64, 3) uint8 clip of the walker held in ``pose`` (joint positions set directly, with a
    slight sway of the joints so the clip is not a single repeated image)."""
    if pose not in POSES:
        raise ValueError(f"unknown pose {pose!r}; expected one of {POSES}")
    from vpt_gym.envs.dmc import make, physics_of

    env = make("walker", "stand", seed=seed)
    env.reset(seed=seed)
    physics = physics_of(env)
    out = []
    for i in range(frames):
        sway = 0.05 * np.sin(2 * np.pi * i / frames)
        with physics.reset_context():
            physics.data.qpos[:] = 0.0
            physics.data.qvel[:] = 0.0
            if pose == "lying_down":
                physics.named.data.qpos["rooty"] = np.pi / 2
                physics.named.data.qpos["rootz"] = -1.2
            for joint in ("right_hip", "left_hip"):
                physics.named.data.qpos[joint] = sway
        out.append(physics.render(64, 64, camera_id=0).copy())
    env.close()
    return np.stack(out)


def train_stage(data_dir: Path, run_dir: Path, args: Args) -> Path:
    from agents.genrl.train_world_model import Args as TrainArgs, train

    train(TrainArgs(data_dir=str(data_dir), run_dir=str(run_dir), config="small", steps=args.wm_steps,
                    batch_size=args.wm_batch, batch_length=args.wm_length, seed=args.seed,
                    checkpoint_every=max(1, min(100, args.wm_steps)), progress=args.progress,
                    train_connector=True, log_every=max(1, min(10, args.wm_steps))))
    return run_dir / "checkpoint.safetensors"


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
    from agents.genrl.episodes import EpisodeStore, collect
    from agents.genrl.reward import MFWM
    from agents.genrl.video_file import write_video

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.wm_length % 8:
        raise ValueError(f"wm_length must be a multiple of 8 (the connector's clip length), got {args.wm_length}")
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    task = args.eval_task or POSE_TASK.get(args.pose, "walker_stand")
    timings: dict[str, float] = {}
    if vlm is None:
        from agents.genrl.vlm import load_vlm  # the VLM registry

        vlm = load_vlm(args.vlm)
    vlm_label = getattr(vlm, "name", args.vlm)
    if getattr(vlm, "is_stand_in", False):
        vlm_label += " (offline stand-in: random features, not a pretrained VLM)"

    t0 = time.perf_counter()
    store = EpisodeStore(run_dir / "data")
    if len(store) < args.episodes:
        if env_factory is None:
            from vpt_gym.envs.dmc import make

            env = make("walker", args.data_task, seed=args.seed, render_quality="fast")
        else:
            env = env_factory()
        collect(env, None, args.episodes - len(store), store, seed=args.seed + len(store), progress=args.progress)
        env.close()
    timings["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    embed_episodes(store, vlm, progress=args.progress)
    timings["embed"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ckpt = train_stage(run_dir / "data", run_dir / "world_model", args)
    timings["world_model"] = time.perf_counter() - t0
    model = MFWM.from_checkpoint(ckpt, vlm)

    prompt_path = run_dir / "prompt.gif"
    if not prompt_path.exists():
        clip = prompt_clip if prompt_clip is not None else render_pose_clip(args.pose, seed=args.seed)
        write_video(clip, prompt_path)

    t0 = time.perf_counter()
    config = BehaviourConfig.small(batch_size=args.behaviour_batch, batch_length=args.behaviour_length)
    policy = learn_behaviour(model, str(prompt_path), steps=args.behaviour_steps, config=config,
                             run_dir=run_dir / "behaviour", seed=args.seed, progress=args.progress)
    timings["behaviour"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    env_id = eval_env if eval_env is not None else f"vpt_gym/{task.replace('_', '-', 1)}-v0"
    kwargs = {} if eval_env is not None else {"render_quality": "fast"}
    ours = evaluate_behaviour(policy, model, env_id, args.eval_episodes, seed=10_000 + args.seed, task=task,
                              progress=args.progress, **kwargs)
    rnd = evaluate_random(env_id, args.eval_episodes, seed=10_000 + args.seed, task=task, **kwargs)
    zero = evaluate_constant(env_id, args.eval_episodes, seed=10_000 + args.seed, task=task, **kwargs)
    timings["eval"] = time.perf_counter() - t0
    results = {"task": task, "pose": args.pose, "vlm": vlm_label, "genrl": ours, "random": rnd, "zero_action": zero,
               "return_ratio": ours["mean_return"] / rnd["mean_return"] if rnd["mean_return"] else None,
               "timings_s": timings, "args": asdict(args),
               "behaviour_metrics": getattr(policy, "last_metrics", {})}
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    return results


def format_table(results: dict[str, Any]) -> str:
    def score(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    rows = [("GenRL data-free (video prompt)", results["genrl"]), ("random policy", results["random"])]
    if "zero_action" in results:
        rows.append(("zero action (trivial baseline)", results["zero_action"]))
    lines = [
        f"GenRL end to end - task {results['task']}, prompt: video of pose '{results['pose']}'",
        f"VLM: {results['vlm']}",
        f"{'policy':34s} {'episodes':>8s} {'mean return':>12s} {'std':>8s} {'normalised':>10s}",
    ]
    for name, r in rows:
        lines.append(f"{name:34s} {r['episodes']:8d} {r['mean_return']:12.1f} {r['std_return']:8.1f} "
                     f"{score(r['normalized_score']):>10s}")
    ratio = results["return_ratio"]
    lines.append(f"return ratio GenRL / random: {'n/a' if ratio is None else f'{ratio:.2f}'}")
    lines.append("stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in results["timings_s"].items()))
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a one-minute smoke configuration")
    defaults = Args()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif name in ("eval_task",):
            parser.add_argument(flag, default=None)
        elif name == "threads":
            parser.add_argument(flag, type=int, default=None)
        else:
            parser.add_argument(flag, type=type(value), default=None)
    ns = vars(parser.parse_args(argv))
    tiny = ns.pop("tiny")
    base = asdict(Args.tiny() if tiny else Args())
    base.update({k: v for k, v in ns.items() if v is not None})
    if base["pose"] not in POSES:
        parser.error(f"--pose must be one of {POSES}")
    return Args(**base)


def main(argv: Optional[Sequence[str]] = None) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    results = run(parse_args(argv))
    print(format_table(results))


if __name__ == "__main__":
    main()
