"""Train GenRL's world model on an episode store (CleanRL-style single file flow).

Usage::

    python -m agents.genrl.train_world_model --data-dir data/walker --run-dir runs/wm --config small

Each step samples (batch, length) windows from the store, runs one world-model update (spec section 1.7:
clip, weight decay, Adam), logs metrics to ``<run-dir>/metrics.jsonl`` and the progress bar, and writes an
atomic checkpoint every ``--checkpoint-every`` steps. Re-running with the same ``--run-dir`` resumes from
``<run-dir>/checkpoint.safetensors`` and continues exactly as an uninterrupted run would (model, Adam
state, torch and numpy RNG states are all restored).

With ``--train-connector`` (episodes must carry ``clip_video`` embeddings, spec section 7), each step also
runs one connector + aligner update on the world model's detached posteriors (spec section 1.7; the
reference runs that update twice per step, spec section 11 - we run it once, as the method describes).

With ``--embeddings TAG`` the ``clip_video`` embeddings come from a set precomputed beside the episodes
(``<data-dir>/.embeddings/<TAG>/``, written by ``python -m agents.genrl.embeddings``) and are read through
:class:`~agents.genrl.embeddings.EmbeddedEpisodeStore`, memory-mapped: training never runs the VLM. The
option implies ``--train-connector``. The set is checked before the first step: a missing tag, or one
that lacks (or has a wrong-shaped) file for some episode, is a clear error that lists the tags present and
the command that computes (or completes) the set.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from agents.checkpoints import CheckpointError
from agents.genrl.checkpoint import TrainingState, load_checkpoint, read_metadata, save_checkpoint
from agents.genrl.connector import Connector, ConnectorConfig, connector_update, make_connector_optimizer
from agents.genrl.embeddings import EMBEDDINGS_DIR, EmbeddedEpisodeStore, embedding_path, embeddings_dir, read_meta
from agents.genrl.episodes import TRAIN_KEYS, EpisodeStore
from agents.genrl.world_model import WorldModel, WorldModelConfig, apply_gradients, make_optimizer
from agents.resume import check_resumable, open_metrics_log


@dataclass
class Args:
    """Training arguments.

    :param data_dir: episode store directory.
    :param run_dir: where checkpoints and metrics go.
    :param config: ``official`` or ``small``.
    :param steps: total number of updates (including those of a resumed run).
    :param batch_size: sequences per batch (reference 48).
    :param batch_length: steps per sequence (reference 48).
    :param seed: seed of torch and of the batch sampler.
    :param log_every: log metrics every this many steps.
    :param checkpoint_every: checkpoint every this many steps (and at the end).
    :param resume: resume from ``run_dir/checkpoint.safetensors`` if present.
    :param cache_episodes: opened episodes kept in memory by the store.
    :param mmap_dir: decompress episodes here and memory-map them (optional).
    :param threads: torch CPU threads (None: torch's default).
    :param progress: show a progress bar.
    :param train_connector: also train connector + aligner on the episodes' ``clip_video`` embeddings.
    :param embeddings: tag of a precomputed embedding set under ``<data_dir>/.embeddings/`` to train the
        connector from (implies ``train_connector``; the VLM is never run).
    :param lr: Adam learning rate of the world model and the connector (None: the config's, GenRL's 1e-4).
        Small CPU runs need a larger one: at 1e-4 the small config's posterior stayed input-independent
        after 300 updates (one class per categorical on every frame), at 1e-3 it used its latent from
        about 200 updates (see ``benchmarks/genrl_multitask.py``).
    """

    data_dir: str
    run_dir: str = "runs/genrl_world_model"
    config: str = "small"
    steps: int = 1000
    batch_size: int = 16
    batch_length: int = 64
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 100
    resume: bool = True
    cache_episodes: int = 16
    mmap_dir: Optional[str] = None
    threads: Optional[int] = None
    progress: bool = True
    train_connector: bool = False
    embeddings: Optional[str] = None
    lr: Optional[float] = None

    def __post_init__(self) -> None:
        check_args(self)

    @property
    def trains_connector(self) -> bool:
        """Whether connector + aligner are trained (``train_connector`` or an ``embeddings`` tag)."""
        return self.train_connector or self.embeddings is not None


#: Settings a resumed run must keep: they decide the network and the batches it sees.
RESUME_KEYS = ("config", "batch_size", "batch_length", "seed", "train_connector", "embeddings", "lr")


def check_args(args: Args) -> None:
    """Refuse settings that would train nothing or something else than asked (each message names the
    setting, its value and what is expected).

    :raises ValueError: a count below its minimum (``steps``, ``batch_size``, ``log_every``,
        ``checkpoint_every``, ``cache_episodes``, ``threads``: >= 1; ``batch_length``: >= 2), or a
        negative ``seed``.
    """
    minimums = {"steps": 1, "batch_size": 1, "batch_length": 2, "log_every": 1, "checkpoint_every": 1,
                "cache_episodes": 1, "seed": 0}
    if args.threads is not None:
        minimums["threads"] = 1
    if args.lr is not None and (isinstance(args.lr, bool) or not isinstance(args.lr, (int, float))
                                or not 0 < args.lr < 1):
        raise ValueError(f"lr must be a number in (0, 1) or None; got {args.lr!r}")
    for name, minimum in minimums.items():
        value = getattr(args, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def available_embeddings(data_dir: str | Path) -> list[str]:
    """Tags of the embedding sets stored under ``<data_dir>/.embeddings/`` (those with a ``meta.json``)."""
    root = Path(data_dir) / EMBEDDINGS_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").is_file())


def open_embedded_store(data_dir: str | Path, tag: str, cache_episodes: int = 16,
                        mmap_dir: Optional[str] = None) -> EmbeddedEpisodeStore:
    """Open ``data_dir`` with the precomputed embedding set ``tag``, checking that the set is complete.

    :raises FileNotFoundError: the tag does not exist, or some episode has no embedding file; the message
        lists the tags present and the command that computes (or completes) the set.
    :raises ValueError: an embedding file has the wrong shape or dtype for its episode.
    """
    directory = embeddings_dir(data_dir, tag)  # also rejects tags that are not plain names
    command = f"python -m agents.genrl.embeddings {data_dir} --vlm NAME --tag {tag}"
    if not (directory / "meta.json").is_file():
        present = available_embeddings(data_dir)
        raise FileNotFoundError(
            f"no embedding set {tag!r} under {Path(data_dir) / EMBEDDINGS_DIR} (missing {directory / 'meta.json'}); "
            f"sets present: {present if present else 'none'}. Compute it with: {command}"
        )
    meta = read_meta(directory)
    store = EmbeddedEpisodeStore(data_dir, tag, cache_episodes=cache_episodes, mmap_dir=mmap_dir)
    dim = int(meta["dim"])
    missing = []
    for i in range(len(store)):
        path = embedding_path(store, i, directory)
        if not path.is_file():
            missing.append(path.name)
            continue
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        if arr.shape != (store.lengths[i], dim) or arr.dtype != np.float32:
            raise ValueError(
                f"embedding file {path} has {arr.dtype} {arr.shape}, expected float32 ({store.lengths[i]}, {dim}) "
                f"for episode {store.paths[i].name}; recompute the set with: {command} --overwrite"
            )
    if missing:
        raise FileNotFoundError(
            f"embedding set {tag!r} is incomplete: {len(missing)} of {len(store)} episodes have no embeddings "
            f"(e.g. {missing[:3]}); complete it (it resumes where it stopped) with: {command} "
            f"(meta.json records the VLM: {meta.get('vlm')})"
        )
    return store


def make_config(name: str, action_dim: int) -> WorldModelConfig:
    presets = {"official": WorldModelConfig.official, "small": WorldModelConfig.small}
    if name not in presets:
        raise ValueError(f"unknown config {name!r}; expected one of {sorted(presets)}")
    return presets[name](action_dim=action_dim)


def to_torch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Numpy batch from :meth:`EpisodeStore.sample` -> tensors for :meth:`WorldModel.loss`."""
    out = {
        "observation": torch.from_numpy(np.ascontiguousarray(batch["observation"])),
        "action": torch.from_numpy(np.asarray(batch["action"], np.float32)),
        "reward": torch.from_numpy(np.asarray(batch["reward"], np.float32)),
        "is_first": torch.from_numpy(np.asarray(batch["is_first"], bool)),
    }
    if "clip_video" in batch:
        out["clip_video"] = torch.from_numpy(np.asarray(batch["clip_video"], np.float32))
    return out


def train_step(state: TrainingState, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """One MFWM step: a world-model update, then (if present) a connector + aligner update on the
    detached posteriors of the same batch."""
    model = state.model
    loss, metrics, post = model.loss(batch)
    metrics["grad_norm"] = apply_gradients(model, state.optimizer, loss, model.config.grad_clip,
                                           model.config.weight_decay)
    if state.connector is not None:
        post = post.detach()
        probs = model.rssm.probs(post.logits)
        metrics.update(connector_update(state.connector, state.connector_optimizer, post, probs,
                                        batch["clip_video"]))
    return metrics


def _clip_dim(store: EpisodeStore, args: Args) -> int:
    """Size of the ``clip_video`` embeddings the connector trains on (clear error when there are none)."""
    try:
        return int(store.load(0, ("clip_video",))["clip_video"].shape[1])
    except KeyError as err:
        present = available_embeddings(args.data_dir)
        hint = (f"pass --embeddings TAG with one of the precomputed sets {present}" if present else
                f"precompute them with: python -m agents.genrl.embeddings {args.data_dir} --vlm NAME, "
                "then pass --embeddings TAG")
        raise KeyError(f"--train-connector needs clip_video embeddings: {err.args[0]}; {hint}") from err


def train(args: Args) -> dict[str, float]:
    """Run (or resume) training; return the metrics of the last step."""
    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.safetensors"
    if args.embeddings is not None:
        store: EpisodeStore = open_embedded_store(args.data_dir, args.embeddings, args.cache_episodes, args.mmap_dir)
    else:
        store = EpisodeStore(args.data_dir, cache_episodes=args.cache_episodes, mmap_dir=args.mmap_dir)
    if len(store) == 0:
        raise FileNotFoundError(f"no episodes (*.npz) found under {args.data_dir}")
    action_dim = int(store.load(0, ("action",))["action"].shape[1])
    train_connector = args.trains_connector
    if train_connector and args.batch_length % 8:
        raise ValueError(f"--train-connector needs batch_length a multiple of 8 (the clip length), got {args.batch_length}")

    if args.resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        if state.model.config.action_dim != action_dim:
            raise ValueError(f"checkpoint action_dim {state.model.config.action_dim} != data action_dim {action_dim}")
        if (state.connector is not None) != train_connector:
            raise ValueError(f"{ckpt_path} was written with train_connector={state.connector is not None}; "
                             f"resume with the same setting")
        if state.connector is not None:
            dim = _clip_dim(store, args)
            if state.connector.config.embed_dim != dim:
                raise ValueError(f"{ckpt_path} has a connector for {state.connector.config.embed_dim}-d embeddings, "
                                 f"the data's clip_video embeddings are {dim}-d")
        saved_extra = read_metadata(ckpt_path).get("extra")
        saved_args = saved_extra.get("args") if isinstance(saved_extra, dict) else None
        if not isinstance(saved_args, dict):
            raise CheckpointError(f"{ckpt_path} does not record its training arguments; cannot check that a "
                                  "resume keeps them (use another run_dir or --no-resume)")
        saved_args.setdefault("embeddings", None)  # written before the option existed
        saved_args.setdefault("lr", None)
        check_resumable(ckpt_path, saved_args, asdict(args),
                        RESUME_KEYS)
        if state.rng is None:
            raise CheckpointError(f"{ckpt_path} has no batch-sampler RNG state; an identical continuation is "
                                  "impossible (use another run_dir or --no-resume)")
        if state.step >= args.steps:
            print(f"{ckpt_path} is already at step {state.step} >= steps={args.steps}: nothing to train "
                  "(raise --steps to continue)", file=sys.stderr)
    else:
        torch.manual_seed(args.seed)
        config = make_config(args.config, action_dim)
        if args.lr is not None:
            config = dataclasses.replace(config, lr=args.lr)
        model = WorldModel(config)
        state = TrainingState(model, make_optimizer(model), 0, np.random.default_rng(args.seed))
        if train_connector:
            embed_dim = _clip_dim(store, args)
            lr = {} if args.lr is None else {"lr": args.lr}
            state.connector = Connector(ConnectorConfig.for_world_model(model.config, embed_dim=embed_dim, **lr))
            state.connector_optimizer = make_connector_optimizer(state.connector)
    keys = TRAIN_KEYS + (("clip_video",) if train_connector else ())
    start = state.step
    state.model.train()

    metrics: dict[str, float] = {}
    log = open_metrics_log(run_dir / "metrics.jsonl", start)
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, desc="world model",
               disable=not args.progress)
    try:
        for step in bar:
            t0 = time.perf_counter()
            batch = to_torch(store.sample(args.batch_size, args.batch_length, state.rng, keys))
            metrics = train_step(state, batch)
            metrics["step_time"] = time.perf_counter() - t0
            if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
                log.write(json.dumps({"step": step + 1, **metrics}) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{metrics['loss']:.1f}", img=f"{metrics['image_loss']:.1f}",
                                kl=f"{metrics['kl']:.2f}")
            if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:
                state.step = step + 1
                save_checkpoint(ckpt_path, state, extra={"args": asdict(args)})
    finally:
        log.close()
    return metrics


def parse_args(argv: Optional[Sequence[str]] = None) -> Args:
    from vpt_gym.field_docs import field_help

    parser = argparse.ArgumentParser(prog="python -m agents.genrl.train_world_model",
                                     description=__doc__.splitlines()[0])
    defaults = Args(data_dir="")
    docs = field_help(Args)
    parser.add_argument("--data-dir", required=True, help=docs["data_dir"])
    for name, value in asdict(defaults).items():
        if name == "data_dir":
            continue
        flag = "--" + name.replace("_", "-")
        text = docs[name].rstrip(".") + " (default %(default)s)"
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, help=docs[name])
        elif name == "mmap_dir":
            parser.add_argument(flag, default=value, help=text)
        elif name == "embeddings":
            parser.add_argument(flag, default=value, metavar="TAG",
                                help="train the connector from the precomputed set <data-dir>/.embeddings/TAG "
                                     "(implies --train-connector)")
        elif name == "threads":
            parser.add_argument(flag, type=int, default=value, help=text)
        elif name == "lr":
            parser.add_argument(flag, type=float, default=value, help=text)
        else:
            parser.add_argument(flag, type=type(value), default=value, help=text)
    ns = parser.parse_args(argv)
    try:
        return Args(**vars(ns))
    except ValueError as err:
        parser.error(str(err))  # exit status 2, one line naming the flag


def _main(args: Args) -> int:
    if not Path(args.data_dir).is_dir():
        raise FileNotFoundError(f"--data-dir {str(args.data_dir)!r} does not exist (an episode store directory, "
                                "e.g. written by agents.genrl.episodes.collect)")
    train(args)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m agents.genrl.train_world_model --data-dir DIR ...``; a user error prints one line and exits 2."""
    from vpt_gym.user_errors import run_command

    return run_command("python -m agents.genrl.train_world_model", _main, parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
