"""Inspect a stable-baselines3 ``.zip`` before SB3 reads it: no pickled entry runs, no member inflates a bomb.

SB3's ``load`` cloudpickle-loads every top-level entry of the zip's ``data`` JSON that is
``{":serialized:": "<base64 pickle>"}`` (the policy class, spaces, schedules, a callable ``kl_coef``...), and
unpickling runs whatever code the pickle names: a crafted zip executes code on load. Its ``.pth`` members are
read with ``torch.load(weights_only=True)`` (SB3 2.9.2, ``common/save_util.py``), which runs no code.

:func:`check_sb3_zip` reads the zip's directory and the ``data`` JSON itself, never unpickling anything, and
refuses (:class:`UntrustedPickleError`) serialized entries that ``custom_objects`` does not replace unless the
caller passes ``trust_remote_code=True``; it also refuses members that inflate far beyond their compressed size
(a few megabytes of zip that would decompress into gigabytes) and an oversized ``data`` member.

Example::

    >>> import io, json, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z:
    ...     z.writestr("data", json.dumps({"gamma": 0.99, "policy_class": {":serialized:": "gAR9lC4="}}))
    >>> try:
    ...     check_sb3_zip(buf)
    ... except UntrustedPickleError as e:
    ...     print(e.entries)
    ['policy_class']
    >>> check_sb3_zip(buf, custom_objects={"policy_class": object})  # replaced: SB3 will not unpickle it
    []
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import zipfile
from collections.abc import Mapping
from typing import Any

from agents.checkpoints import CheckpointError, bounded_repr, describe_error

#: The pickle-free alternative named in every refusal.
SAFE_ALTERNATIVE = (
    "save runs with KLPPO.save_pretrained(directory) and load them with KLPPO.from_pretrained(directory, env) "
    "(safetensors + JSON, nothing executable)"
)
#: Largest ``data`` member read (SB3's JSON of hyper-parameters is a few kilobytes; a pickled env can be more).
MAX_DATA_BYTES = 64 << 20
#: A member may inflate to at most this many times its compressed size (plus :data:`INFLATE_SLACK`): weights
#: compress by ~10%, a deflate bomb by up to 1000x.
MAX_INFLATE_RATIO = 100
INFLATE_SLACK = 16 << 20
#: Largest rollout buffer a zip may ask for (``n_steps * n_envs`` transitions; SB3 allocates it on load, before
#: any weight is read). rl-zoo's largest settings use about 131k; this is twice that.
MAX_ROLLOUT_TRANSITIONS = 1 << 18


class UntrustedPickleError(CheckpointError):
    """An SB3 zip holds cloudpickled entries, and the caller did not opt in to running them.

    :param entries: the ``data`` keys that SB3 would unpickle.
    :param source: the zip.
    """

    def __init__(self, entries: list[str], source: str) -> None:
        self.entries = entries
        super().__init__(
            f"{source}: refusing to load: its 'data' holds cloudpickled entries {bounded_repr(entries, 300)}, and "
            "unpickling them can run arbitrary code from the file. Pass trust_remote_code=True only for a file "
            "you made or trust, or pass custom_objects={name: value} for each of those entries (they are then "
            f"not unpickled); better, {SAFE_ALTERNATIVE}"
        )


def _resolve(path: str | os.PathLike | io.BufferedIOBase) -> Any:
    """The file SB3 would open: like ``save_util.open_path``, a missing ``name`` falls back to ``name.zip``."""
    if isinstance(path, (str, os.PathLike)):
        p = pathlib.Path(path)
        if not p.exists() and pathlib.Path(f"{p}.zip").exists():
            p = pathlib.Path(f"{p}.zip")
        if not p.is_file():
            raise FileNotFoundError(f"SB3 model file not found: {p}")
        return p
    return path


def check_sb3_zip(
    path: str | os.PathLike | io.BufferedIOBase,
    custom_objects: Mapping[str, Any] | None = None,
    trust_remote_code: bool = False,
) -> list[str]:
    """Check an SB3 zip without unpickling anything; return the serialized entries SB3 would unpickle.

    :param path: the zip (or a binary file object, left at its start).
    :param custom_objects: as SB3's ``load``: entries replaced by these values are not unpickled.
    :param trust_remote_code: allow serialized entries (the caller trusts the file); the size checks still run.
    :raises UntrustedPickleError: serialized entries, not replaced, without ``trust_remote_code``.
    :raises CheckpointError: not a zip, an oversized or inflating member, a corrupt ``data`` JSON.
    """
    target = _resolve(path)
    source = str(target) if isinstance(target, pathlib.Path) else "<SB3 zip stream>"
    start = target.tell() if not isinstance(target, pathlib.Path) else None
    try:
        with zipfile.ZipFile(target) as archive:
            infos = archive.infolist()
            for info in infos:
                if info.file_size > INFLATE_SLACK + MAX_INFLATE_RATIO * info.compress_size:
                    raise CheckpointError(
                        f"{source}: member {bounded_repr(info.filename, 80)} inflates from {info.compress_size} to "
                        f"{info.file_size} bytes (more than {MAX_INFLATE_RATIO}x): refusing to decompress it"
                    )
            names = {info.filename: info for info in infos}
            if "data" not in names:
                return []
            if names["data"].file_size > MAX_DATA_BYTES:
                raise CheckpointError(
                    f"{source}: its 'data' member has {names['data'].file_size} bytes (at most {MAX_DATA_BYTES})"
                )
            raw = archive.read("data")
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"{source}: not an SB3 zip file ({describe_error(e)})") from e
    finally:
        if start is not None:
            target.seek(start)
    try:
        data = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{source}: its 'data' member is not JSON ({describe_error(e)})") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{source}: its 'data' member is not a JSON object")
    _check_rollout_size(data, source)
    replaced = set(custom_objects or {})
    serialized = [
        key for key, value in data.items() if isinstance(value, dict) and ":serialized:" in value and key not in replaced
    ]
    if serialized and not trust_remote_code:
        raise UntrustedPickleError(serialized, source)
    return serialized


def _check_rollout_size(data: dict[str, Any], source: str) -> None:
    """Refuse ``n_steps`` / ``n_envs`` that are not positive integers or whose product exceeds
    :data:`MAX_ROLLOUT_TRANSITIONS`: SB3 sizes the rollout buffer from them when it loads the zip."""
    sizes = {}
    for name in ("n_steps", "n_envs"):
        value = data.get(name, 1)
        if type(value) is not int or value < 1:
            raise CheckpointError(f"{source}: {name} must be a positive integer, got {bounded_repr(value, 80)}")
        sizes[name] = value
    if sizes["n_steps"] * sizes["n_envs"] > MAX_ROLLOUT_TRANSITIONS:
        raise CheckpointError(
            f"{source}: n_steps * n_envs = {sizes['n_steps']} * {sizes['n_envs']} transitions would be allocated for "
            f"the rollout buffer (at most {MAX_ROLLOUT_TRANSITIONS}); refusing it"
        )


def pth_bytes(path: str | os.PathLike | io.BufferedIOBase) -> tuple[int, int]:
    """``(count, total uncompressed bytes)`` of the zip's ``.pth`` members (what its tensors can fill)."""
    target = _resolve(path)
    start = target.tell() if not isinstance(target, pathlib.Path) else None
    try:
        with zipfile.ZipFile(target) as archive:
            sizes = [i.file_size for i in archive.infolist() if i.filename.endswith(".pth")]
    finally:
        if start is not None:
            target.seek(start)
    return len(sizes), sum(sizes)
