"""GenRL's commands for ``vpt-gym``: ``genrl-decode``, the video of what a trained model understood of a prompt.

Entry points as :mod:`vpt_gym.cli` expects: :func:`decode_add_arguments` / :func:`decode_run`. Torch and the
models are imported only when the command runs.

``genrl-decode`` loads a training checkpoint (world model + connector, written by
``python -m agents.genrl.train_world_model --train-connector`` or ``--embeddings TAG``) or a released GenRL
``.pt`` (read safely by :func:`agents.genrl.official.load_official_genrl`), embeds the prompt
with a vision-language model, rolls the connector out from it (aligner on, mode steps; spec section 3) and
decodes the latents to a GIF or MP4 (:func:`agents.genrl.connector.decode_prompt`).

Example::

    vpt-gym genrl-decode --checkpoint runs/wm --prompt "a walker running forward" --vlm clip --out run.gif
    vpt-gym genrl-decode --checkpoint runs/wm --video demo.mp4 --out what_it_saw.mp4 --steps 32
    vpt-gym genrl-decode --checkpoint models/genrl_walker_500k_2.pt --prompt "running fast" \
        --vlm internvideo2:models/InternVideo2-stage2_1b-224p-f4.pt --out walker.gif

Without ``--vlm`` the VLM is the one recorded with the embedding set the run trained on (``--embeddings
TAG``), when that set's ``meta.json`` is still on disk; a released ``.pt`` records none, so it needs ``--vlm``
(GenRL's models were trained on ``internvideo2``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Optional

__all__ = ["decode_add_arguments", "decode_run", "decode", "resolve_checkpoint", "DecodeError"]

VIDEO_SUFFIXES = (".gif", ".mp4")


class DecodeError(ValueError):
    """Bad ``genrl-decode`` input (missing checkpoint, unusable prompt, wrong output suffix, ...)."""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def decode_add_arguments(parser: argparse.ArgumentParser) -> None:
    """``vpt-gym genrl-decode --checkpoint DIR (--prompt TEXT | --video FILE) --out FILE [--vlm NAME] [--steps N]``."""
    parser.add_argument("--checkpoint", required=True,
                        help="run directory (holding checkpoint.safetensors), the .safetensors file itself, or a "
                             "released GenRL .pt (genrl_<domain>_500k_2.pt)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", default=None, help="text prompt (needs a VLM with a text tower)")
    source.add_argument("--video", default=None, help="video prompt file (.gif, .mp4, ...) read with imageio")
    parser.add_argument("--out", required=True, help="output video, .gif or .mp4 (.mp4 needs imageio-ffmpeg)")
    parser.add_argument("--vlm", default=None,
                        help="VLM name, name:source or model directory (default: the VLM recorded with the "
                             "run's --embeddings set)")
    parser.add_argument("--steps", type=_positive, default=16, help="frames to generate (default 16)")
    parser.add_argument("--fps", type=_positive, default=15, help="frames per second of the output (default 15)")
    parser.add_argument("--threads", type=_positive, default=None, help="torch CPU threads")


def resolve_checkpoint(path: str | Path) -> Path:
    """The ``.safetensors`` file of a run directory or file path (clear error when it does not exist)."""
    path = Path(path)
    if path.is_dir():
        file = path / "checkpoint.safetensors"
        if not file.is_file():
            found = sorted(p.name for p in path.glob("*.safetensors"))
            raise DecodeError(f"no checkpoint.safetensors in {path} (found {found if found else 'no .safetensors'}); "
                              "pass a run directory of train_world_model or the checkpoint file")
        return file
    if not path.is_file():
        raise DecodeError(f"checkpoint {path} does not exist; pass a run directory of train_world_model "
                          "or its checkpoint.safetensors")
    return path


def _recorded_vlm(meta: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The VLM description stored with the embedding set the checkpoint was trained on, if still on disk."""
    args = (meta.get("extra") or {}).get("args") or {}
    tag, data_dir = args.get("embeddings"), args.get("data_dir")
    if not tag or not data_dir:
        return None
    from agents.genrl.embeddings import embeddings_dir

    file = embeddings_dir(data_dir, tag) / "meta.json"
    if not file.is_file():
        return None
    return json.loads(file.read_text()).get("vlm")


def _load_vlm(name: Optional[str], meta: dict[str, Any], embed_dim: int) -> Any:
    from agents.genrl.vlm import load_vlm

    if name is None:
        desc = _recorded_vlm(meta)
        if desc is None:
            raise DecodeError("the checkpoint does not say which VLM made its embeddings (it was not trained "
                              "with --embeddings, or that set is gone): pass --vlm NAME")
        if desc.get("name") == "random-features":
            kw = {k: desc[k] for k in ("dim", "n_frames", "resolution", "seed", "motion_gain") if k in desc}
            return load_vlm("random-features", **kw)
        return load_vlm(desc["name"], **({"source": desc["source"]} if desc.get("source") else {}))
    if name.partition(":")[0].lower() == "random-features":
        return load_vlm(name, dim=embed_dim)
    return load_vlm(name)


def _read_video(path: Path) -> Any:
    import imageio.v3 as iio
    import numpy as np

    if not path.is_file():
        raise DecodeError(f"video prompt {path} does not exist")
    try:
        frames = np.asarray(iio.imread(path, index=None))
    except Exception as err:  # imageio raises plugin-specific errors
        raise DecodeError(f"cannot read video prompt {path}: {err}") from err
    if frames.ndim == 3:  # one greyscale or single-frame image
        frames = frames[None]
    if frames.ndim == 4 and frames.shape[-1] == 4:
        frames = frames[..., :3]  # GIF readers may return RGBA
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise DecodeError(f"video prompt {path} must decode to RGB frames (T, H, W, 3), got shape {frames.shape}")
    return np.ascontiguousarray(frames.astype(np.uint8))


def decode_run(args: argparse.Namespace) -> int:
    """Run ``genrl-decode``; a user error (:mod:`vpt_gym.user_errors`: bad input, missing weights, a file that
    is not a checkpoint) prints ``genrl-decode: error: ...`` on one line to stderr and returns 2."""
    from vpt_gym.user_errors import run_command

    def command(parsed: argparse.Namespace) -> int:
        decode(parsed)
        return 0

    return run_command("genrl-decode", command, args)


def decode(args: argparse.Namespace) -> Path:
    """Write the decoded prompt video to ``args.out`` and return its path.

    :param args: the parsed ``genrl-decode`` arguments (see :func:`decode_add_arguments`).
    :raises DecodeError: missing checkpoint, no connector, text prompt for a VLM without text, embedding size
        that does not match the connector, bad output suffix, unreadable video prompt.
    """
    out = Path(args.out)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise DecodeError(f"--out {out} has suffix {out.suffix!r}; expected one of {list(VIDEO_SUFFIXES)}")
    file = resolve_checkpoint(args.checkpoint)

    import torch

    from agents.genrl.checkpoint import load_checkpoint
    from agents.genrl.connector import decode_prompt
    from agents.genrl.video_file import write_video

    if args.threads:
        torch.set_num_threads(args.threads)
    if file.suffix == ".pt":
        world_model, connector, meta = _official(file)
    else:
        state = load_checkpoint(file, restore_rng=False)
        if state.connector is None:
            raise DecodeError(f"{file} has no connector (the run was trained without --train-connector or "
                              "--embeddings), so it cannot turn prompts into latents")
        world_model, connector, meta = state.model, state.connector, state.meta
    embed_dim = connector.config.embed_dim
    try:
        vlm = _load_vlm(args.vlm, meta, embed_dim)
    except DecodeError:
        raise
    except ValueError as err:  # unknown name, bad source: load_vlm's message lists the known ones
        raise DecodeError(str(err)) from err
    if args.prompt is not None:
        if not vlm.has_text:
            stand_in = " (an offline stand-in)" if vlm.is_stand_in else ""
            raise DecodeError(f"VLM {vlm.name!r}{stand_in} has no text tower, so the text prompt {args.prompt!r} "
                              "cannot be embedded: give the prompt as --video FILE, or use a VLM with text "
                              "(clip, siglip, xclip, internvideo2) whose embeddings the connector was trained on")
        embedding = vlm.embed_text(args.prompt)
    else:
        embedding = vlm.embed_prompt_video(_read_video(Path(args.video)))
    if embedding.shape[-1] != embed_dim:
        raise DecodeError(f"VLM {vlm.name!r} gives {embedding.shape[-1]}-d embeddings but the connector was trained "
                          f"on {embed_dim}-d ones: use the VLM the run's embeddings came from")
    if vlm.is_stand_in:
        print(f"note: {vlm.name} is an offline stand-in, not a pretrained VLM")
    world_model.eval()
    connector.eval()
    frames = decode_prompt(world_model, connector, torch.from_numpy(embedding[0]), steps=args.steps)
    path = write_video(frames[0].numpy(), out, fps=args.fps)
    print(f"wrote {len(frames[0])} frames to {path}")
    return path


def _official(file: Path) -> tuple[Any, Any, dict[str, Any]]:
    """World model and connector of a released GenRL ``.pt`` (no VLM is recorded in it: ``--vlm`` is needed)."""
    from agents.checkpoints import CheckpointError
    from agents.genrl.official import load_official_genrl

    try:
        loaded = load_official_genrl(file)
    except CheckpointError as err:
        raise DecodeError(f"{file} is not a loadable GenRL checkpoint: {err}") from err
    if loaded.connector is None:
        raise DecodeError(f"{file} holds no connector, so it cannot turn prompts into latents")
    return loaded.world_model, loaded.connector, {}


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m agents.genrl.cli ...``: the same command without the ``vpt-gym`` front end."""
    parser = argparse.ArgumentParser(prog="genrl-decode", description=__doc__.splitlines()[0])
    decode_add_arguments(parser)
    return decode_run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
