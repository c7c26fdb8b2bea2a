"""The Hugging Face Hub, through ``huggingface_hub``: download a model folder or one file, push a folder.

Every ``from_pretrained(repo_id)`` / ``push_to_hub(repo_id)`` of the package goes through these functions:

- :func:`download_folder` takes a local directory (returned as is) or a Hub repo id ``"owner/name"``
  (``huggingface_hub.snapshot_download`` into the Hub cache, ``$HF_HUB_CACHE``, default
  ``~/.cache/huggingface/hub``) and checks that the files the caller needs are there;
- :func:`download_file` fetches one file of a repo (``hf_hub_download``), optionally checking its sha256;
- :func:`push_folder_to_hub` creates the repo if needed and uploads a folder (``HfApi.upload_folder``),
  with its model card (``README.md``).

Offline (``HF_HUB_OFFLINE=1`` or ``VPT_GYM_OFFLINE=1``, read at call time) nothing is requested from the
network: a repo must already be in the cache, and the error says which files to fetch with ``hf download``.
``huggingface_hub`` is the ``hub`` extra (``pip install -e ".[hub]"`` in the vpt-gym checkout).

Example (no network: a local folder is returned as is)::

    >>> import tempfile
    >>> from agents.hub import download_folder
    >>> folder = tempfile.mkdtemp()
    >>> download_folder(folder) == __import__("pathlib").Path(folder)
    True
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from agents.model_card import CARD_FILE, ModelCardInfo
from vpt_gym.optional import import_optional

PathLike = str | os.PathLike

#: the extra that installs ``huggingface_hub``.
HUB_EXTRA = "hub"
#: environment variables that switch downloads off (truthy: 1 / true / yes).
OFFLINE_VARIABLES = ("VPT_GYM_OFFLINE", "HF_HUB_OFFLINE")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def hub_module() -> ModuleType:
    """``huggingface_hub``, or :class:`~vpt_gym.optional.MissingDependency` naming the ``hub`` extra."""
    return import_optional("huggingface_hub", HUB_EXTRA)


def offline() -> bool:
    """Whether downloads are switched off (``VPT_GYM_OFFLINE`` or ``HF_HUB_OFFLINE`` set to 1/true/yes)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARIABLES)


def is_repo_id(text: Any) -> bool:
    """Whether ``text`` has the form of a Hub repo id ``"owner/name"`` (and is not an existing local path)."""
    if not isinstance(text, str) or not _REPO_ID.match(text) or ".." in text:
        return False
    return not Path(text).exists()


def hub_cache_dir(cache_dir: PathLike | None = None) -> Path:
    """Where the Hub client keeps downloads: ``cache_dir``, else ``$HF_HUB_CACHE`` (default
    ``~/.cache/huggingface/hub``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except ImportError:
        home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
        return Path(os.environ.get("HF_HUB_CACHE", os.path.join(home, "hub")))


def hf_download_command(repo_id: str, files: Sequence[str] = (), revision: str | None = None) -> str:
    """The ``hf download`` command line that fetches ``files`` of ``repo_id`` (all files if empty)."""
    parts = ["hf", "download", repo_id, *files]
    if revision:
        parts += ["--revision", revision]
    return " ".join(parts)


def _not_available(repo_id: str, files: Sequence[str], revision: str | None, cache_dir: PathLike | None,
                   reason: str) -> FileNotFoundError:
    listed = ", ".join(files) if files else "all files"
    return FileNotFoundError(
        f"{repo_id!r}: {reason}. Files needed: {listed}. On a machine with network access run "
        f"`{hf_download_command(repo_id, files, revision)}` and copy the Hub cache ({hub_cache_dir(cache_dir)}) "
        f"here (or set HF_HUB_CACHE to a copy), or download the files into a folder and pass that folder's path."
    )


def offline_switches() -> str:
    """The offline variables that are set, e.g. ``"HF_HUB_OFFLINE=1"``."""
    return ", ".join(f"{v}={os.environ[v]}" for v in OFFLINE_VARIABLES
                     if os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on"))


def _offline_reason() -> str:
    return f"not in the Hugging Face cache and downloads are off ({offline_switches()})"


def download_folder(
    repo_id_or_path: PathLike,
    files: Sequence[str] = (),
    *,
    allow_patterns: Sequence[str] = (),
    revision: str | None = None,
    cache_dir: PathLike | None = None,
    token: str | bool | None = None,
) -> Path:
    """A model folder: a local directory as is, or a Hub repo downloaded with ``snapshot_download``.

    :param repo_id_or_path: a directory, or a Hub repo id ``"owner/name"``.
    :param files: the files the caller needs (each must exist afterwards).
    :param allow_patterns: glob patterns of further files to download; only ``files`` and these are
        downloaded (neither given: the whole repo).
    :param revision: a branch, tag or commit of the repo (default ``main``).
    :param cache_dir: the Hub cache to use (default ``$HF_HUB_CACHE``).
    :param token: a Hub token for private repos (default: the logged-in one, ``hf auth login``).
    :raises FileNotFoundError: naming every missing file and how to get it.
    """
    path = Path(repo_id_or_path).expanduser()
    if path.is_dir():
        folder = path
    elif path.exists():
        raise FileNotFoundError(f"{path} is a file; expected a model folder or a Hub repo id 'owner/name'")
    elif is_repo_id(str(repo_id_or_path)):
        repo_id = str(repo_id_or_path)
        hub = hub_module()
        from huggingface_hub import errors

        try:
            folder = Path(hub.snapshot_download(
                repo_id, revision=revision, cache_dir=None if cache_dir is None else str(cache_dir),
                allow_patterns=[*files, *allow_patterns] or None, local_files_only=offline(), token=token,
                library_name="vpt-gym"))
        except errors.RepositoryNotFoundError as err:
            raise FileNotFoundError(
                f"{repo_id!r} is not a local folder, and no such model repository is on the Hugging Face Hub "
                "(or it is private or gated: log in with `hf auth login` or pass token=)") from err
        except errors.RevisionNotFoundError as err:
            raise FileNotFoundError(f"{repo_id!r} has no revision {revision!r}") from err
        except (errors.LocalEntryNotFoundError, OSError) as err:
            reason = _offline_reason() if offline() else f"could not be downloaded ({type(err).__name__}: {err})"
            raise _not_available(repo_id, files, revision, cache_dir, reason) from err
    else:
        raise FileNotFoundError(
            f"{str(repo_id_or_path)!r} is neither a local folder nor a Hub repo id of the form 'owner/name'")
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)} (needs {', '.join(files)})")
    return folder


def download_file(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    cache_dir: PathLike | None = None,
    sha256: str | None = None,
    token: str | bool | None = None,
) -> Path:
    """One file of a Hub repo (``hf_hub_download``, with the client's progress bar), its sha256 checked.

    :param repo_id: ``"owner/name"``. :param filename: the file's path in the repo.
    :param revision: branch, tag or commit. :param cache_dir: the Hub cache (default ``$HF_HUB_CACHE``).
    :param sha256: the expected sha256 (hex) or a prefix of it; a file that does not match is removed from
        the cache and an error raised.
    :param token: a Hub token for private repos.
    :raises FileNotFoundError: the file is not cached and cannot be downloaded (the message says how).
    :raises ValueError: the sha256 does not match.
    """
    if not is_repo_id(repo_id):
        raise ValueError(f"{repo_id!r} is not a Hub repo id of the form 'owner/name'")
    hub = hub_module()
    from huggingface_hub import errors

    try:
        path = Path(hub.hf_hub_download(
            repo_id, filename, revision=revision, cache_dir=None if cache_dir is None else str(cache_dir),
            local_files_only=offline(), token=token, library_name="vpt-gym"))
    except errors.RepositoryNotFoundError as err:
        raise FileNotFoundError(f"{repo_id!r}: no such model repository on the Hugging Face Hub, or it is "
                                "private or gated (log in with `hf auth login`)") from err
    except errors.EntryNotFoundError as err:
        if isinstance(err, errors.LocalEntryNotFoundError):
            reason = _offline_reason() if offline() else f"could not be downloaded ({err})"
            raise _not_available(repo_id, [filename], revision, cache_dir, reason) from err
        raise FileNotFoundError(f"{repo_id!r} has no file {filename!r}") from err
    except OSError as err:
        raise _not_available(repo_id, [filename], revision, cache_dir,
                             f"could not be downloaded ({type(err).__name__}: {err})") from err
    if sha256:
        _check_sha256(path, sha256, f"{repo_id}/{filename}")
    return path


def _check_sha256(path: Path, expected: str, name: str) -> None:
    expected = expected.lower()
    if not re.fullmatch(r"[0-9a-f]{4,64}", expected):
        raise ValueError(f"{name}: expected sha256 must be 4 to 64 hex digits, got {expected[:80]!r}")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    got = digest.hexdigest()
    if not got.startswith(expected):
        target = path.resolve()  # the cache's blob (the snapshot entry is a symlink to it)
        for p in {path, target}:
            if p.is_symlink() or p.is_file():
                p.unlink()
        raise ValueError(f"{name}: sha256 is {got}, expected {expected}...; the file was removed from the cache, "
                         "download it again (a truncated or tampered file)")


def push_folder_to_hub(
    folder: PathLike,
    repo_id: str,
    model_card: ModelCardInfo | str | None = None,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    api: Any = None,
) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` to it; return the commit's URL.

    :param folder: a folder written by a ``save_pretrained`` (safetensors + JSON + ``README.md``).
    :param repo_id: ``"owner/name"``.
    :param model_card: written to ``folder/README.md`` first (a :class:`ModelCardInfo` is rendered with a
        generic title; ``save_pretrained`` writes a fuller card). Without it the folder must have a card.
    :param private: make a new repo private. :param token: a Hub token (default: the logged-in one).
    :param commit_message: the commit message. :param revision: the branch to push to.
    :param api: an ``huggingface_hub.HfApi`` (default ``HfApi(token=token)``; tests pass a fake).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; write it with save_pretrained first")
    if not is_repo_id(repo_id):
        raise ValueError(f"{repo_id!r} is not a Hub repo id of the form 'owner/name'")
    if isinstance(model_card, ModelCardInfo):
        model_card.write(folder, title=repo_id.split("/", 1)[1])
    elif isinstance(model_card, str):
        (folder / CARD_FILE).write_text(model_card, encoding="utf-8")
    elif model_card is not None:
        raise TypeError(f"model_card must be a ModelCardInfo, a string or None, got {type(model_card).__name__}")
    if not (folder / CARD_FILE).is_file():
        raise FileNotFoundError(f"{folder} has no {CARD_FILE} (model card); pass model_card=ModelCardInfo(...)")
    if offline():
        raise ConnectionError(f"cannot push {folder} to {repo_id!r}: network access is off ({offline_switches()})")
    if api is None:
        api = hub_module().HfApi(token=token)
    api.create_repo(repo_id, private=private, repo_type="model", exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model", revision=revision,
                             commit_message=commit_message or f"Upload {folder.name} with vpt-gym",
                             ignore_patterns=[".*", "*.tmp*"])
    return str(getattr(info, "commit_url", info))
