"""The VPT pipeline's commands for ``vpt-gym``: ``idm train``, ``idm eval``, ``idm label`` and ``bc train``.

Two entry points per top-level command, as :mod:`vpt_gym.cli` expects: :func:`idm_add_arguments` /
:func:`idm_run` and :func:`bc_add_arguments` / :func:`bc_run`. Torch and the training code are imported
only when a command runs. A user error (missing directory, a file that is not a checkpoint, ``--stride``
above ``--window``) raises one of :mod:`vpt_gym.user_errors`' types, which ``vpt-gym`` prints as one line.

Example (the whole method on contractor-format data)::

    vpt-gym idm train contractor/ runs/idm --model 4x
    vpt-gym idm label videos/ --idm runs/idm/final --out labels/
    vpt-gym bc train videos/ runs/bc --labels labels/ --policy 1x
    vpt-gym bc train house/ runs/ft --init-from runs/bc/final   # fine-tuning
    torchrun --standalone --nproc_per_node 4 -m vpt_gym.cli bc train videos/ runs/bc   # data-parallel
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from vpt_gym.number_checks import number_type
from vpt_gym.user_errors import UsageError

__all__ = ["idm_add_arguments", "idm_run", "bc_add_arguments", "bc_run"]


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    known = ("stdout", "csv", "log", "json", "tensorboard")
    bad = [f for f in formats if f not in known]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown log format(s) {bad}; choose from {list(known)}")
    return formats


_positive = number_type(integer=True, minimum=1)
_count = number_type(integer=True, minimum=0)


def _common_training_arguments(p: argparse.ArgumentParser, lr: float, weight_decay: float, epochs: int,
                               batch_size: int, log_every: int) -> None:  # fmt: skip
    p.add_argument("--epochs", type=_positive, default=epochs, help=f"passes over the data (default {epochs})")
    p.add_argument("--max-steps", type=_positive, default=None, help="stop after this many updates")
    p.add_argument("--batch-size", type=_positive, default=batch_size, help=f"default {batch_size}")
    p.add_argument("--lr", type=number_type(minimum=0), default=lr, help=f"AdamW learning rate (default {lr})")
    p.add_argument("--weight-decay", type=number_type(minimum=0), default=weight_decay, help=f"AdamW weight decay (default {weight_decay})")
    p.add_argument("--max-grad-norm", type=number_type(above=0), default=5.0, help="gradient clipping (default 5.0)")
    p.add_argument("--seed", type=_count, default=0, help="seed of the data order and of a fresh network's initialisation (default 0)")
    p.add_argument("--checkpoint-every", type=_count, default=500, help="updates between checkpoints (0: at the end)")
    p.add_argument("--keep-checkpoints", type=_positive, default=2, help="checkpoints kept on disk (default 2)")
    p.add_argument("--log-every", type=_positive, default=log_every, help=f"updates between log lines (default {log_every})")
    p.add_argument("--log-formats", type=_formats, default=("stdout", "csv"),
                   help="comma-separated SB3 logger formats: stdout,csv,log,json,tensorboard (default stdout,csv)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT_DIR has a checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--data-shards", type=_positive, default=None,
                   help="data shards of a data-parallel run (torchrun): the batches are the same for any number "
                        "of processes dividing it (default: the resumed run's, else the number of processes)")


def _is_main_process() -> bool:
    """Rank 0 of a torchrun job (or a plain one-process run): the process that prints the results."""
    return os.environ.get("RANK", "0") == "0"


# --------------------------------------------------------------------------------------------------
# vpt-gym idm ...
# --------------------------------------------------------------------------------------------------


def idm_add_arguments(parser: argparse.ArgumentParser) -> None:
    """``vpt-gym idm {train,eval,label}``."""
    sub = parser.add_subparsers(dest="idm_command", required=True)

    p = sub.add_parser("train", help="train an inverse dynamics model on contractor data (mp4 + jsonl pairs)")
    p.add_argument("data", help="directory of contractor pairs")
    p.add_argument("out_dir", help="run directory (checkpoints, logs, final/)")
    p.add_argument("--model", default="4x",
                   help="IDM preset for a fresh network: 4x, tiny, or crafter (Crafter's 17-action head, "
                        "agents.vpt.config.CRAFTER_IDM; reads the data with the crafter action codec) (default 4x)")
    p.add_argument("--init-from", default=None, help="start from this IDM checkpoint instead")
    p.add_argument("--val-data", default=None, help="held-out pairs (default: --val-fraction of DATA)")
    p.add_argument("--val-fraction", type=number_type(minimum=0, below=1), default=0.1, help="recordings held out (default 0.1)")
    p.add_argument("--window", type=_positive, default=128, help="frames per window (default 128)")
    p.add_argument("--shuffle-buffer", type=_positive, default=32, help="windows in the shuffle buffer")
    p.add_argument("--eval-every", type=_count, default=0, help="updates between held-out evaluations (0: at the end)")
    _common_training_arguments(p, lr=3e-4, weight_decay=0.01, epochs=1, batch_size=4, log_every=10)

    p = sub.add_parser("eval", help="key accuracy and camera R^2 of an IDM on labelled pairs")
    p.add_argument("data", help="directory of contractor pairs (held out)")
    p.add_argument("--idm", required=True, help="IDM checkpoint directory, official files or released name")
    p.add_argument("--window", type=_positive, default=None, help="frames per window (default: 128)")
    p.add_argument("--fast", action="store_true", help="bfloat16 / chunked inference")
    p.add_argument("--fast-dtype", choices=("bfloat16", "float32"), default="bfloat16",
                   help="--fast precision: bfloat16 (fastest) or float32 (float32 labels, half the memory)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")

    p = sub.add_parser("label", help="pseudo-label every video of a directory (resumable)")
    p.add_argument("videos", help="directory of .mp4 videos")
    p.add_argument("--idm", required=True, help="IDM checkpoint directory, official files or released name")
    p.add_argument("--out", default=None, help="where the .jsonl labels go (default: beside the videos)")
    p.add_argument("--window", type=_positive, default=128, help="frames per window (default 128)")
    p.add_argument("--stride", type=_positive, default=None,
                   help="frames between windows, at most --window (default: half the window, 64 for 128)")
    p.add_argument("--fast", action="store_true", help="bfloat16 / chunked inference (see benchmarks.idm_labelling_speed)")
    p.add_argument("--fast-dtype", choices=("bfloat16", "float32"), default="bfloat16",
                   help="--fast precision: bfloat16 (fastest) or float32 (float32 labels, half the memory)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="relabel videos that already have labels")
    p.add_argument("--backend", choices=("local", "ray"), default="local", help="one Ray task per video with ray")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _crafter_or(kind: str, preset: str) -> str | dict[str, Any]:
    """``"crafter"`` -> the Crafter network's config (JSON form); any other preset name unchanged."""
    if preset != "crafter":
        return preset
    from agents.vpt.config import CRAFTER_IDM, CRAFTER_POLICY

    return (CRAFTER_IDM if kind == "idm" else CRAFTER_POLICY).to_dict()


def _print_json(data: Any) -> None:
    """Pretty JSON on stdout (an undefined R^2 prints as NaN)."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def idm_run(args: argparse.Namespace) -> int:
    """Run ``vpt-gym idm ...``; returns the exit status."""
    if args.idm_command == "train":
        from agents.vpt.idm_training import IDMTrainingConfig, train_idm

        result = train_idm(IDMTrainingConfig(
            data=args.data, out_dir=args.out_dir, model=_crafter_or("idm", args.model), init_from=args.init_from, val_data=args.val_data,
            val_fraction=args.val_fraction, window=args.window, batch_size=args.batch_size, epochs=args.epochs,
            max_steps=args.max_steps, lr=args.lr, weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm,
            shuffle_buffer=args.shuffle_buffer, seed=args.seed, checkpoint_every=args.checkpoint_every,
            keep_checkpoints=args.keep_checkpoints, log_every=args.log_every, eval_every=args.eval_every,
            log_formats=args.log_formats, progress=not args.no_progress, device=args.device,
            resume=not args.no_resume, data_shards=args.data_shards,
        ))  # fmt: skip
        if not _is_main_process():
            return 0
        for pair, reason in result.problems:
            print(f"skipped {pair.video}: {reason}")
        _print_json({"steps": result.steps, "final": str(result.final_dir),
                     "metrics": result.metrics.summary() if result.metrics else None})  # fmt: skip
        return 0
    if args.idm_command == "eval":
        from agents.vpt.contractor import find_pairs
        from agents.vpt.idm_training import IDMLabeller, evaluate_idm

        labeller = IDMLabeller(args.idm, device=args.device, fast=args.fast, fast_dtype=args.fast_dtype)
        pairs, _ = find_pairs(args.data)
        if not pairs:
            raise FileNotFoundError(f"no contractor pairs (.mp4 + .jsonl) in {args.data}")
        problems: list = []
        metrics = evaluate_idm(labeller, pairs, args.window or 128, problems=problems)
        for pair, reason in problems:
            print(f"skipped {pair.video}: {reason}")
        _print_json(metrics.summary())
        return 0
    from agents.vpt.idm_training import IDMLabeller
    from agents.vpt.labelling import label_directory

    if args.stride is not None and args.stride > args.window:
        raise UsageError(f"--stride ({args.stride}) must not exceed --window ({args.window}), or frames would go "
                         "unlabelled; leave --stride out to use half the window")
    labeller = IDMLabeller(args.idm, device=args.device, fast=args.fast, fast_dtype=args.fast_dtype)
    report = label_directory(
        args.videos, labeller, args.out, window=args.window, stride=args.stride, resolution=labeller.resolution,
        overwrite=args.overwrite, backend=args.backend, progress=not args.no_progress,
        action_codec=labeller.action_codec,
    )  # fmt: skip
    for video, reason in report.failed:
        print(f"failed {video}: {reason}")
    print(f"labelled {len(report.labelled)} videos ({report.n_frames} frames), skipped {len(report.skipped)} "
          f"already labelled, {len(report.failed)} failed")  # fmt: skip
    return 1 if report.failed else 0


# --------------------------------------------------------------------------------------------------
# vpt-gym bc ...
# --------------------------------------------------------------------------------------------------


def bc_add_arguments(parser: argparse.ArgumentParser) -> None:
    """``vpt-gym bc train``."""
    sub = parser.add_subparsers(dest="bc_command", required=True)
    p = sub.add_parser("train", help="behavioural cloning / fine-tuning of a VPT policy on labelled pairs")
    p.add_argument("data", help="directory of videos with .jsonl labels (contractor pairs)")
    p.add_argument("out_dir", help="run directory (checkpoints, logs, final/)")
    p.add_argument("--labels", default=None, help="directory of the .jsonl labels if not beside the videos")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--policy", default="1x",
                       help="preset for a fresh policy: 1x, 2x, 3x, tiny, or crafter (Crafter's 17-action head, "
                            "agents.vpt.config.CRAFTER_POLICY; use --drop-null none) (default 1x)")
    start.add_argument("--init-from", default=None,
                       help="fine-tune this pretrained policy (directory, .model/.weights or released name)")
    p.add_argument("--val-data", default=None, help="held-out labelled pairs for a validation loss")
    p.add_argument("--chunk-len", type=_positive, default=None, help="frames per chunk (default: timesteps, 128)")
    p.add_argument("--drop-null", choices=("agent", "json", "none"), default="agent", help="null-step rule")
    _common_training_arguments(p, lr=0.000181, weight_decay=0.039428, epochs=2, batch_size=8, log_every=100)


def bc_run(args: argparse.Namespace) -> int:
    """Run ``vpt-gym bc train``; returns the exit status."""
    from agents.vpt.bc import BCConfig, train_bc

    result = train_bc(BCConfig(
        data=args.data, out_dir=args.out_dir, labels=args.labels, policy=_crafter_or("policy", args.policy), init_from=args.init_from,
        val_data=args.val_data, chunk_len=args.chunk_len, batch_size=args.batch_size, epochs=args.epochs,
        max_steps=args.max_steps, lr=args.lr, weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm,
        drop_null=args.drop_null, seed=args.seed, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints, log_every=args.log_every, log_formats=args.log_formats,
        progress=not args.no_progress, device=args.device, resume=not args.no_resume, data_shards=args.data_shards,
    ))  # fmt: skip
    if not _is_main_process():
        return 0
    for pair, reason in result.problems:
        print(f"skipped {pair.video}: {reason}")
    first = result.losses[0] if result.losses else None
    last = result.losses[-1] if result.losses else None
    _print_json({"steps": result.steps, "final": str(result.final_dir), "first_loss": first, "last_loss": last,
                 "val_loss": result.val_loss})  # fmt: skip
    return 0
