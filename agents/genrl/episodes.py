"""On-disk episode store for world-model training, in GenRL's episode format.

One compressed ``.npz`` per episode, named ``{index}-{timestamp}-{uuid}-{length}.npz`` as in the reference
(spec section 7), with keys ``observation`` (T, 3, 64, 64) uint8, ``action`` (T, A) float32 (zeros at the
reset step), ``reward`` and ``discount`` (T, 1) float32, ``is_first``, ``is_last``, ``is_terminal`` (T,) bool.

Unlike the reference, which loads the whole dataset into RAM, the store only indexes file names (the length
is part of the name) and opens an episode when a sample needs it: each opened episode's arrays are either
decompressed into a small LRU cache (``cache_episodes``) or, with ``mmap_dir``, decompressed once to ``.npy``
files that are memory-mapped. Memory is bounded by the cache size, not by the dataset size.

Example::

    >>> import tempfile, numpy as np
    >>> store = EpisodeStore(tempfile.mkdtemp())
    >>> T = 10
    >>> ep = {"observation": np.zeros((T, 3, 64, 64), np.uint8), "action": np.zeros((T, 2), np.float32),
    ...       "reward": np.zeros((T, 1), np.float32), "discount": np.ones((T, 1), np.float32),
    ...       "is_first": np.eye(1, T, dtype=bool)[0], "is_last": np.eye(1, T, T - 1, dtype=bool)[0],
    ...       "is_terminal": np.zeros(T, bool)}
    >>> _ = store.add(ep)
    >>> store.sample(4, 5, np.random.default_rng(0))["observation"].shape
    (4, 5, 3, 64, 64)
"""
from __future__ import annotations

import datetime
import os
import re
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from vpt_gym.atomic_file import write_atomic

EPISODE_KEYS: tuple[str, ...] = ("observation", "action", "reward", "discount", "is_first", "is_last", "is_terminal")
TRAIN_KEYS: tuple[str, ...] = ("observation", "action", "reward", "is_first")
_NAME = re.compile(r"^(?P<index>\d+)-(?P<stamp>[^-]+)-(?P<uid>[0-9a-f]+)-(?P<length>\d+)\.npz$")


def validate_episode(episode: Mapping[str, np.ndarray]) -> int:
    """Check keys, shapes and dtypes of an episode dict; return its length T."""
    missing = [k for k in EPISODE_KEYS if k not in episode]
    if missing:
        raise KeyError(f"episode is missing keys {missing}; expected at least {list(EPISODE_KEYS)}")
    obs = np.asarray(episode["observation"])
    if obs.ndim != 4 or obs.shape[1:] != (3, 64, 64) or obs.dtype != np.uint8:
        raise ValueError(f"episode['observation'] must be uint8 (T, 3, 64, 64), got {obs.dtype} {obs.shape}")
    length = obs.shape[0]
    if length < 1:
        raise ValueError("episode is empty")
    shapes = {"reward": (length, 1), "discount": (length, 1), "is_first": (length,), "is_last": (length,),
              "is_terminal": (length,)}
    for key, shape in shapes.items():
        if np.shape(episode[key]) != shape:
            raise ValueError(f"episode[{key!r}] must have shape {shape}, got {np.shape(episode[key])}")
    act = np.asarray(episode["action"])
    if act.ndim != 2 or act.shape[0] != length:
        raise ValueError(f"episode['action'] must be (T={length}, A), got {act.shape}")
    for key in ("action", "reward", "discount"):
        if not np.isfinite(episode[key]).all():
            raise ValueError(f"episode[{key!r}] contains NaN or inf")
    return length


def save_episode(directory: str | os.PathLike, episode: Mapping[str, np.ndarray], index: int) -> Path:
    """Write ``episode`` as one compressed npz, atomically and durably (:func:`vpt_gym.atomic_file.write_atomic`).

    :return: the final path, ``{index}-{timestamp}-{uuid}-{length}.npz``.
    """
    length = validate_episode(episode)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = directory / f"{index}-{stamp}-{uuid.uuid4().hex}-{length}.npz"
    arrays = {k: np.asarray(v) for k, v in episode.items()}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    write_atomic(path, write, durable=True)
    return path


def episode_index(path: Path) -> Optional[int]:
    """Index of a stored episode from its name (:func:`save_episode`'s scheme), or None for another name."""
    match = _NAME.match(path.name)
    return int(match["index"]) if match else None


def episode_length(path: Path) -> int:
    """Length of a stored episode: from its name when it follows the naming scheme, else from ``is_first``."""
    match = _NAME.match(path.name)
    if match:
        return int(match["length"])
    with np.load(path, allow_pickle=False) as data:
        return int(data["is_first"].shape[0])


class EpisodeStore:
    """A directory of episode files with lazy loading and (batch, length) sequence sampling.

    :param directory: where episodes live (searched recursively for ``*.npz``); created if missing.
    :param cache_episodes: how many opened episodes to keep (LRU); bounds the memory used.
    :param mmap_dir: if set, episodes are decompressed once into ``.npy`` files here and memory-mapped.
    """

    def __init__(
        self, directory: str | os.PathLike, cache_episodes: int = 16, mmap_dir: Optional[str | os.PathLike] = None
    ) -> None:
        if cache_episodes < 1:
            raise ValueError(f"cache_episodes must be >= 1, got {cache_episodes}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cache_episodes = cache_episodes
        self.mmap_dir = Path(mmap_dir) if mmap_dir is not None else None
        self._cache: OrderedDict[tuple[int, tuple[str, ...]], dict[str, np.ndarray]] = OrderedDict()
        self.files_opened = 0  # how many times an episode file was read (for tests and diagnostics)
        self.paths: list[Path] = []
        self.lengths: list[int] = []
        self.refresh()

    def refresh(self) -> None:
        """Index episode files added to the directory by others (only names are read when possible)."""
        known = set(self.paths)
        for path in sorted(self.directory.rglob("*.npz")):
            if path.name.startswith("."):
                continue  # a temporary file of a write in progress (or of a killed one)
            if path not in known:
                self.paths.append(path)
                self.lengths.append(episode_length(path))

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_steps(self) -> int:
        return int(sum(self.lengths))

    def add(self, episode: Mapping[str, np.ndarray]) -> Path:
        """Save an episode into the store's directory and index it."""
        path = save_episode(self.directory, episode, index=len(self.paths))
        self.paths.append(path)
        self.lengths.append(validate_episode(episode))
        return path

    def load(self, index: int, keys: Iterable[str] = TRAIN_KEYS) -> dict[str, np.ndarray]:
        """The arrays ``keys`` of episode ``index`` (through the cache; read-only)."""
        if not 0 <= index < len(self.paths):
            raise IndexError(f"episode index {index} out of range [0, {len(self.paths)})")
        keys = tuple(keys)
        cache_key = (index, keys)
        if cache_key in self._cache:
            self._cache.move_to_end(cache_key)
            return self._cache[cache_key]
        arrays = self._read(self.paths[index], keys)
        self._cache[cache_key] = arrays
        while len(self._cache) > self.cache_episodes:
            self._cache.popitem(last=False)
        return arrays

    def _read(self, path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        self.files_opened += 1
        if self.mmap_dir is not None:
            target = self.mmap_dir / path.relative_to(self.directory).with_suffix("")
            out = {}
            for key in keys:
                npy = target / f"{key}.npy"
                if not npy.exists():
                    arr = self._read_npz(path, (key,))[key]
                    write_atomic(npy, lambda tmp, arr=arr: np.save(tmp, arr))
                out[key] = np.load(npy, mmap_mode="r", allow_pickle=False)
            return out
        return self._read_npz(path, keys)

    @staticmethod
    def _read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in keys if k not in data.files]
                if missing:
                    raise KeyError(f"episode file {path} lacks keys {missing}; it has {data.files}")
                return {k: data[k] for k in keys}
        except (OSError, ValueError, EOFError) as err:
            raise ValueError(f"episode file {path} is unreadable or corrupt: {err}") from err

    def sample(
        self, batch: int, length: int, rng: np.random.Generator, keys: Iterable[str] = TRAIN_KEYS
    ) -> dict[str, np.ndarray]:
        """Sample ``batch`` contiguous windows of ``length`` steps, each inside one episode.

        As in the reference: an episode is drawn uniformly (among those at least ``length`` long), then a
        start index uniformly. Windows never cross episode boundaries.

        :return: dict of arrays (batch, length, ...), plus ``episode`` and ``start`` index arrays (batch,).
        """
        if batch < 1 or length < 1:
            raise ValueError(f"batch and length must be >= 1, got batch={batch}, length={length}")
        eligible = np.flatnonzero(np.asarray(self.lengths) >= length)
        if eligible.size == 0:
            longest = max(self.lengths, default=0)
            raise ValueError(f"no episode has at least {length} steps (store has {len(self)}, longest {longest})")
        keys = tuple(keys)
        episodes = rng.choice(eligible, size=batch)
        starts = np.array([rng.integers(0, self.lengths[e] - length + 1) for e in episodes])
        out: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        for e, s in zip(episodes, starts):
            arrays = self.load(int(e), keys)
            for k in keys:
                # copy the window: a view would keep the whole (possibly evicted) episode array alive
                out[k].append(np.array(arrays[k][s : s + length], copy=True))
        result = {k: np.stack(v) for k, v in out.items()}
        result["episode"] = episodes
        result["start"] = starts
        return result


def _to_chw(obs: Any) -> np.ndarray:
    obs = np.asarray(obs)
    if obs.dtype != np.uint8:
        raise TypeError(f"pixel observations must be uint8, got {obs.dtype}")
    if obs.shape == (64, 64, 3):
        return np.ascontiguousarray(obs.transpose(2, 0, 1))
    if obs.shape == (3, 64, 64):
        return obs
    raise ValueError(f"expected a 64x64x3 (HWC) or 3x64x64 (CHW) observation, got shape {obs.shape}")


class EpisodeRows:
    """Rows of one episode in the store's format, pushed one step at a time (``push``), then :meth:`episode`.

    Row 0 is the reset observation with a zero action and zero reward (``first=True``); row t > 0 holds the
    action that led to observation t and its reward.

    Example::

        >>> rows = EpisodeRows()
        >>> frame = np.zeros((64, 64, 3), np.uint8)
        >>> rows.push(frame, np.zeros(2, np.float32), 0.0, first=True, last=False, terminal=False)
        >>> rows.push(frame, np.ones(2, np.float32), 1.5, first=False, last=True, terminal=False)
        >>> ep = rows.episode(); ep["observation"].shape, ep["reward"][:, 0].tolist(), ep["is_last"].tolist()
        ((2, 3, 64, 64), [0.0, 1.5], [False, True])
    """

    def __init__(self) -> None:
        self.rows: dict[str, list] = {k: [] for k in EPISODE_KEYS}

    def __len__(self) -> int:
        return len(self.rows["is_first"])

    def push(self, observation: Any, action: np.ndarray, reward: float, first: bool, last: bool, terminal: bool) -> None:
        """Append one step: a 64x64x3 (or 3x64x64) uint8 frame, the action that led to it and its reward."""
        rows = self.rows
        rows["observation"].append(_to_chw(observation))
        rows["action"].append(np.asarray(action, np.float32))
        rows["reward"].append([float(reward)])
        rows["discount"].append([0.0 if terminal else 1.0])
        rows["is_first"].append(bool(first))
        rows["is_last"].append(bool(last))
        rows["is_terminal"].append(bool(terminal))

    def episode(self) -> dict[str, np.ndarray]:
        """The pushed rows as the arrays of one episode (see :func:`validate_episode`)."""
        rows = self.rows
        return {
            "observation": np.stack(rows["observation"]),
            "action": np.stack(rows["action"]).astype(np.float32),
            "reward": np.asarray(rows["reward"], np.float32),
            "discount": np.asarray(rows["discount"], np.float32),
            "is_first": np.asarray(rows["is_first"], bool),
            "is_last": np.asarray(rows["is_last"], bool),
            "is_terminal": np.asarray(rows["is_terminal"], bool),
        }


def collect(
    env: gym.Env,
    policy: Optional[Callable[[np.ndarray], np.ndarray]],
    n_episodes: int,
    store: EpisodeStore,
    seed: Optional[int] = None,
    progress: bool = True,
) -> list[Path]:
    """Run ``policy`` in ``env`` for ``n_episodes`` and save each episode into ``store``.

    The first row of each episode is the reset observation with a zero action and zero reward
    (``is_first``); row t > 0 holds the action that led to observation t, clipped to the action space's
    bounds (what the env executes, as GenRL's action clipping does).

    :param env: a gymnasium env with 64x64x3 uint8 observations and a Box action space.
    :param policy: maps an observation (as the env returns it) to an action; None samples the action space.
    :param n_episodes: number of episodes.
    :param store: destination.
    :param seed: seed of the first reset (episode i uses seed + i) and of the action space.
    :param progress: show a tqdm progress bar.
    :return: the paths written.
    """
    space = env.action_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise TypeError(f"collect needs a 1-d Box action space, got {space}")
    if seed is not None:
        space.seed(seed)
    act_dim = space.shape[0]
    paths = []
    bar = tqdm(range(n_episodes), desc="collect", unit="ep", disable=not progress)
    for i in bar:
        obs, _ = env.reset(seed=None if seed is None else seed + i)
        rows = EpisodeRows()
        rows.push(obs, np.zeros(act_dim, np.float32), 0.0, True, False, False)
        done = False
        total = 0.0
        while not done:
            action = space.sample() if policy is None else policy(obs)
            action = np.asarray(action, dtype=np.float32)
            if action.shape != (act_dim,) or not np.isfinite(action).all():
                raise ValueError(f"policy returned an invalid action {action!r}; expected finite shape ({act_dim},)")
            # Documented clipping: the stored action is the one the env executes (GenRL clips actions
            # to the Box, its ClipActionWrapper; vpt-gym's dmc envs do the same).
            action = np.clip(action, space.low, space.high).astype(np.float32)
            obs, reward, terminated, truncated, _ = env.step(action)
            done = bool(terminated or truncated)
            total += float(reward)
            rows.push(obs, action, float(reward), False, done, bool(terminated))
        episode = rows.episode()
        paths.append(store.add(episode))
        bar.set_postfix(length=len(rows), ret=f"{total:.1f}")
    return paths
