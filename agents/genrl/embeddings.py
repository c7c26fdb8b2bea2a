"""Precomputed VLM clip embeddings for an episode dataset, so that training never re-runs the VLM.

Spec section 7 (GenRL's ``process_dataset.py`` / ``ViClipWrapper.process_episode``): the embedding stored
for step t of an episode is the VLM's embedding of the k frames [t-k+1 .. t], the window ENDING at t; the
first k-1 steps of every episode, which have no full window, get all-zero vectors (the reference's
padding). For k = 1 (image models) every step has its own embedding.

The embeddings are stored beside the episodes, never inside them (the episode files stay untouched)::

    <store>/.embeddings/<tag>/meta.json                    which VLM, k, dim, the window rule
    <store>/.embeddings/<tag>/<episode path without .npz>.npy   float32 (T, dim), one per episode

Each file is written atomically and durably (:func:`vpt_gym.atomic_file.write_atomic`); a run that is interrupted resumes where
it stopped (complete files are skipped). :class:`EmbeddedEpisodeStore` is an :class:`EpisodeStore` whose
``load``/``sample`` also serve the embeddings under a key (``clip_video`` by default, the key the connector
training reads), memory-mapped.

Example::

    >>> import tempfile, numpy as np
    >>> from agents.genrl.episodes import EpisodeStore, episode_length
    >>> from agents.genrl.vlm import load_vlm
    >>> store = EpisodeStore(tempfile.mkdtemp())
    >>> T = 12
    >>> _ = store.add({"observation": np.zeros((T, 3, 64, 64), np.uint8), "action": np.zeros((T, 1), np.float32),
    ...                "reward": np.zeros((T, 1), np.float32), "discount": np.ones((T, 1), np.float32),
    ...                "is_first": np.arange(T) == 0, "is_last": np.arange(T) == T - 1,
    ...                "is_terminal": np.zeros(T, bool)})
    >>> vlm = load_vlm("random-features", dim=8, n_frames=4)
    >>> tag = precompute_embeddings(store, vlm, progress=False)
    >>> batch = EmbeddedEpisodeStore(store.directory, tag).sample(2, 8, np.random.default_rng(0),
    ...                                                           ("observation", "clip_video"))
    >>> batch["clip_video"].shape
    (2, 8, 8)
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np
from tqdm.auto import tqdm

from agents.genrl.episodes import EpisodeStore, episode_length
from agents.genrl.vlm.base import VLM
from vpt_gym.number_checks import number_type
from vpt_gym.atomic_file import write_atomic

EMBEDDINGS_DIR = ".embeddings"
WINDOW_RULE = "window of k frames ending at step t; steps t < k-1 are zero (GenRL process_dataset)"
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def default_tag(vlm: VLM) -> str:
    """A directory name for ``vlm``'s embeddings, e.g. ``random-features-d512-k8``."""
    return f"{vlm.name}-d{vlm.dim}-k{vlm.n_frames}"


def embeddings_dir(store_dir: str | os.PathLike, tag: str) -> Path:
    """Where embeddings with ``tag`` live for the episode directory ``store_dir``."""
    if not _TAG.match(tag):
        raise ValueError(f"embedding tag {tag!r} must be a plain name (letters, digits, '.', '_', '-')")
    return Path(store_dir) / EMBEDDINGS_DIR / tag


def window_embeddings(observation: np.ndarray, vlm: VLM, batch_size: int = 64) -> np.ndarray:
    """Embeddings of one episode: row t embeds frames [t-k+1 .. t]; rows t < k-1 are zero.

    :param observation: uint8 (T, 3, H, W) (the episode format) or (T, H, W, 3).
    :param vlm: the backend (k = ``vlm.n_frames``).
    :param batch_size: windows per VLM call.
    :return: float32 (T, vlm.dim).
    """
    obs = np.asarray(observation)
    if obs.dtype != np.uint8 or obs.ndim != 4:
        raise ValueError(f"observation must be uint8 (T, 3, H, W) or (T, H, W, 3), got {obs.dtype} {obs.shape}")
    frames = obs.transpose(0, 2, 3, 1) if obs.shape[1] == 3 and obs.shape[-1] != 3 else obs
    if frames.shape[-1] != 3:
        raise ValueError(f"observation must have 3 colour channels, got shape {obs.shape}")
    k = vlm.n_frames
    out = np.zeros((frames.shape[0], vlm.dim), np.float32)
    if frames.shape[0] >= k:
        out[k - 1 :] = vlm.embed_windows(np.ascontiguousarray(frames), batch_size=batch_size)
    return out


def _atomic_save(path: Path, array: np.ndarray) -> None:
    write_atomic(path, lambda tmp: np.save(tmp, array), durable=True)


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    text = json.dumps(meta, indent=1, sort_keys=True)
    write_atomic(directory / "meta.json", lambda tmp: tmp.write_text(text), durable=True)


def read_meta(directory: Path) -> dict[str, Any]:
    """The ``meta.json`` of an embeddings directory (clear error when absent)."""
    path = Path(directory) / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"no embeddings at {directory} (missing meta.json); run precompute_embeddings first")
    return json.loads(path.read_text())


def embedding_path(store: EpisodeStore, index: int, directory: Path) -> Path:
    """The ``.npy`` file holding episode ``index``'s embeddings."""
    return directory / store.paths[index].relative_to(store.directory).with_suffix(".npy")


def precompute_embeddings(
    store: EpisodeStore,
    vlm: VLM,
    tag: Optional[str] = None,
    batch_size: int = 64,
    overwrite: bool = False,
    progress: bool = True,
) -> str:
    """Embed every episode of ``store`` with ``vlm`` once and store the results beside the episodes.

    Resumable: episodes whose embedding file is complete are skipped. The VLM's description is recorded in
    ``meta.json``; resuming with a different VLM under the same tag is refused (use ``overwrite``).

    :param store: the episode dataset.
    :param vlm: the backend.
    :param tag: name of the embedding set (default :func:`default_tag`).
    :param batch_size: windows per VLM call.
    :param overwrite: recompute everything.
    :param progress: show a progress bar (steps embedded).
    :return: the tag (pass it to :class:`EmbeddedEpisodeStore`).
    """
    tag = tag or default_tag(vlm)
    directory = embeddings_dir(store.directory, tag)
    meta = {"vlm": vlm.describe(), "dim": int(vlm.dim), "n_frames": int(vlm.n_frames), "window": WINDOW_RULE,
            "is_stand_in": bool(vlm.is_stand_in)}
    if (directory / "meta.json").is_file() and not overwrite:
        old = read_meta(directory)
        if old != meta:
            raise ValueError(
                f"{directory} holds embeddings of a different VLM ({old.get('vlm')}); "
                f"this one is {meta['vlm']}. Use another tag or overwrite=True."
            )
    _write_meta(directory, meta)
    store.refresh()
    todo = []
    for i in range(len(store)):
        path = embedding_path(store, i, directory)
        if overwrite or not _complete(path, store.lengths[i], vlm.dim):
            todo.append(i)
    bar = tqdm(total=sum(store.lengths[i] for i in todo), desc=f"embed {tag}", unit="step", disable=not progress)
    for i in todo:
        observation = store.load(i, ("observation",))["observation"]
        _atomic_save(embedding_path(store, i, directory), window_embeddings(observation, vlm, batch_size))
        bar.update(store.lengths[i])
    bar.close()
    return tag


def _complete(path: Path, length: int, dim: int) -> bool:
    if not path.is_file():
        return False
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    return arr.shape == (length, dim) and arr.dtype == np.float32


class EmbeddedEpisodeStore(EpisodeStore):
    """An :class:`EpisodeStore` that also serves precomputed embeddings under ``key``.

    ``load``/``sample`` with ``key`` in ``keys`` read the embedding file (memory-mapped) instead of the
    episode; everything else is the plain store. This is the loader the connector training uses: its
    batches get ``clip_video`` (B, T, dim) aligned step by step with the frames.

    :param directory: the episode directory.
    :param tag: the embedding set (from :func:`precompute_embeddings`).
    :param key: the batch key for the embeddings (``clip_video``).
    :param kwargs: :class:`EpisodeStore` arguments.
    """

    def __init__(self, directory: str | os.PathLike, tag: str, key: str = "clip_video", **kwargs: Any) -> None:
        self.key = key
        self.embeddings_dir = embeddings_dir(directory, tag)
        self.meta = read_meta(self.embeddings_dir)
        super().__init__(directory, **kwargs)

    @property
    def embed_dim(self) -> int:
        return int(self.meta["dim"])

    def _read(self, path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        rest = tuple(k for k in keys if k != self.key)
        out = super()._read(path, rest) if rest else {}
        if self.key in keys:
            file = self.embeddings_dir / path.relative_to(self.directory).with_suffix(".npy")
            if not file.is_file():
                raise FileNotFoundError(
                    f"no {self.key!r} embeddings for episode {path.name} in {self.embeddings_dir}; "
                    "run precompute_embeddings on this store (it resumes where it stopped)"
                )
            arr = np.load(file, mmap_mode="r", allow_pickle=False)
            length = episode_length(path)
            if arr.shape != (length, self.embed_dim):
                raise ValueError(f"{file}: embeddings have shape {arr.shape}, expected ({length}, {self.embed_dim})")
            out[self.key] = arr
        return out


def _main(args: Any) -> int:
    from vpt_gym.user_errors import UsageError, is_user_error

    from agents.genrl.vlm import load_vlm

    if not Path(args.episodes).is_dir():
        raise FileNotFoundError(f"episode directory {str(args.episodes)!r} does not exist (an EpisodeStore "
                                "directory, e.g. written by agents.genrl.episodes.collect)")
    store = EpisodeStore(args.episodes)
    if len(store) == 0:
        raise FileNotFoundError(f"no episodes in {str(args.episodes)!r}: it holds no EpisodeStore episode files")
    try:
        vlm = load_vlm(args.vlm, device=args.device)
    except ValueError as err:  # an unknown name or a bad source: the message lists the known ones
        if is_user_error(err):
            raise
        raise UsageError(f"--vlm {args.vlm!r:.200}: {err}") from err
    if vlm.is_stand_in:
        print(f"note: {vlm.name} is an offline stand-in, not a pretrained VLM; label results accordingly")
    tag = precompute_embeddings(store, vlm, args.tag, args.batch_size, args.overwrite)
    print(f"embeddings: {embeddings_dir(args.episodes, tag)} (tag {tag!r})")
    return 0


def build_parser() -> Any:
    """The parser of ``python -m agents.genrl.embeddings``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m agents.genrl.embeddings", description=main.__doc__)
    parser.add_argument("episodes", help="episode directory (EpisodeStore)")
    parser.add_argument("--vlm", default="random-features",
                        help="VLM name (clip, siglip, xclip, random-features), name:source, or model directory "
                             "(default random-features, an offline stand-in)")
    parser.add_argument("--tag", default=None, help="name of the embedding set (default: <vlm>-d<dim>-k<k>)")
    parser.add_argument("--batch-size", type=number_type(integer=True, minimum=1), default=64, help="windows per VLM call (default 64)")
    parser.add_argument("--device", default="cpu", help="torch device of the VLM (default cpu)")
    parser.add_argument("--overwrite", action="store_true", help="recompute every episode's embeddings")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m agents.genrl.embeddings EPISODE_DIR --vlm NAME``: precompute (or resume) a dataset's embeddings."""
    from vpt_gym.user_errors import run_command

    return run_command("python -m agents.genrl.embeddings", _main, build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
