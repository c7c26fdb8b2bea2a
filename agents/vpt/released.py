"""OpenAI's released VPT files (spec section 4.3): where they are, where they are cached, and a checked
download.

Each released name (``"foundation-model-1x"``, ``"4x-idm"``, ...) is a ``.model`` (architecture) and a
``.weights`` (state dict) file under :data:`BASE_URL`. :func:`fetch_released` returns their local paths,
downloading what is missing with ``torch.hub.download_url_to_file`` (a progress bar on stderr; the file is
written to a temporary name and renamed only when complete), then checks what can be checked:

- the sha256 the caller gives (``sha256={"models/x.weights": "<hex or prefix>"}``): OpenAI publishes no
  sha256 for these files and the project's spec has none, so none is built in;
- the md5 that the spec records for ``models/2x.model``;
- that a ``.weights`` file is an intact zip archive (``torch.save``'s format; every member's CRC is read).

A file that fails a check is deleted, and so is everything this call downloaded and every folder it
created: a failed call leaves the cache as it found it. Offline (``VPT_GYM_OFFLINE=1`` or
``HF_HUB_OFFLINE=1``), or when a download fails, the error lists both files with their URLs and where to
put them.

The cache is ``$VPT_GYM_CACHE``, else ``$XDG_CACHE_HOME/vpt-gym``, else ``~/.cache/vpt-gym``; files keep
their path under the base URL: ``<cache>/openai-vpt/models/foundation-model-1x.weights``.

Example (offline, nothing cached: the error names every file)::

    >>> import os, tempfile
    >>> os.environ["VPT_GYM_OFFLINE"] = "1"
    >>> try:
    ...     fetch_released("foundation-model-1x", cache_dir=tempfile.mkdtemp())
    ... except FileNotFoundError as err:
    ...     print(str(err).splitlines()[1].strip())
    https://openaipublic.blob.core.windows.net/minecraft-rl/models/foundation-model-1x.model
    >>> del os.environ["VPT_GYM_OFFLINE"]
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agents.checkpoints import CheckpointError, PathLike
from agents.hub import offline, offline_switches

#: Where OpenAI hosts the released files (spec 4.3).
BASE_URL = "https://openaipublic.blob.core.windows.net/minecraft-rl/"
#: the folder of the cache that holds OpenAI's files.
CACHE_SUBDIR = "openai-vpt"


@dataclass(frozen=True)
class ReleasedModel:
    """A released checkpoint: the ``.model`` and ``.weights`` paths relative to :data:`BASE_URL`.

    :param model_file: architecture file. :param weights_file: weights file.
    :param digests: known ``{relative path: "md5:<hex>" | "sha256:<hex>"}`` (checked after download).
    """

    model_file: str
    weights_file: str
    digests: tuple[tuple[str, str], ...] = ()

    @property
    def files(self) -> tuple[str, str]:
        return self.model_file, self.weights_file


_2X_MODEL_DIGEST = (("models/2x.model", "md5:1290cde10558881d83814a42ef2bc102"),)  # spec 4.1

#: Released names (spec 4.3); every weights file is paired with the ``.model`` of its width.
RELEASED: dict[str, ReleasedModel] = {
    "foundation-model-1x": ReleasedModel("models/foundation-model-1x.model", "models/foundation-model-1x.weights"),
    "foundation-model-2x": ReleasedModel("models/2x.model", "models/foundation-model-2x.weights", _2X_MODEL_DIGEST),
    "foundation-model-3x": ReleasedModel("models/foundation-model-3x.model", "models/foundation-model-3x.weights"),
    "bc-house-3x": ReleasedModel("models/foundation-model-3x.model", "models/bc-house-3x.weights"),
    "bc-early-game-2x": ReleasedModel("models/2x.model", "models/bc-early-game-2x.weights", _2X_MODEL_DIGEST),
    "bc-early-game-3x": ReleasedModel("models/foundation-model-3x.model", "models/bc-early-game-3x.weights"),
    "rl-from-foundation-2x": ReleasedModel("models/2x.model", "models/rl-from-foundation-2x.weights", _2X_MODEL_DIGEST),
    "rl-from-house-2x": ReleasedModel("models/2x.model", "models/rl-from-house-2x.weights", _2X_MODEL_DIGEST),
    "rl-from-early-game-2x": ReleasedModel("models/2x.model", "models/rl-from-early-game-2x.weights", _2X_MODEL_DIGEST),
    "4x-idm": ReleasedModel("idm/4x_idm.model", "idm/4x_idm.weights"),
}


def default_cache_dir() -> Path:
    """``$VPT_GYM_CACHE``, else ``$XDG_CACHE_HOME/vpt-gym``, else ``~/.cache/vpt-gym``."""
    if os.environ.get("VPT_GYM_CACHE"):
        return Path(os.environ["VPT_GYM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vpt-gym"


def cached_path(relative: str, cache_dir: PathLike | None = None) -> Path:
    """Where a released file lives in the cache: ``<cache>/openai-vpt/<relative>``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / CACHE_SUBDIR / relative


def files_message(name: str, cache_dir: PathLike | None = None, base_url: str = BASE_URL) -> str:
    """Every file of ``name``: its URL, where it goes, and whether it is already there."""
    lines = []
    for rel in RELEASED[name].files:
        dest = cached_path(rel, cache_dir)
        state = "present" if dest.is_file() else "missing"
        lines.append(f"  {base_url}{rel}\n    -> {dest}  ({state})")
    return "\n".join(lines)


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file (``"md5"`` or ``"sha256"``), read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def verify_digest(path: Path, digest: str) -> None:
    """Check ``"md5:<hex>"`` / ``"sha256:<hex or prefix>"``; raise :class:`CheckpointError` on a mismatch."""
    algo, _, want = digest.partition(":")
    if algo not in ("md5", "sha256") or not re.fullmatch(r"[0-9a-f]{4,64}", want.lower()):
        raise ValueError(f"digest must be 'md5:<hex>' or 'sha256:<hex>', got {digest[:80]!r}")
    got = file_digest(path, algo)
    if not got.startswith(want.lower()):
        raise CheckpointError(f"{path}: {algo} is {got}, expected {want}")


def verify_zip(path: Path) -> None:
    """A ``.weights`` file is ``torch.save``'s zip archive: check it opens and every member's CRC matches."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CheckpointError(f"{path}: not an intact torch zip archive ({type(err).__name__}: {err})") from err
    if bad is not None:
        raise CheckpointError(f"{path}: member {bad!r} of the zip archive is corrupt (CRC mismatch)")


def remote_size(url: str, timeout: float = 30.0) -> int | None:
    """The ``Content-Length`` a ``HEAD`` request reports, or None when the server gives none."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "vpt-gym"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) URLs only
            length = response.headers.get("Content-Length")
    except urllib.error.HTTPError as err:
        if err.code in (403, 405, 501):  # HEAD not allowed: the size cannot be checked
            return None
        raise
    return int(length) if length is not None and length.isdigit() else None


def download_checked(url: str, dest: Path, sha256: str | None = None, progress: bool = True) -> None:
    """Download ``url`` to ``dest`` with ``torch.hub.download_url_to_file`` (temporary file, then rename;
    progress bar on stderr), checking the size the server announces and, with ``sha256`` (hex or prefix),
    the hash. A short download is a :class:`ConnectionError`, a hash mismatch a :class:`CheckpointError`;
    neither leaves a file."""
    from torch.hub import download_url_to_file

    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http(s) URLs are downloaded, got {url[:200]!r}")
    size = remote_size(url)
    try:
        download_url_to_file(url, str(dest), hash_prefix=sha256.lower() if sha256 else None, progress=progress)
    except RuntimeError as err:
        if "invalid hash value" in str(err):
            raise CheckpointError(f"{url}: sha256 mismatch: {err}; the download was discarded") from err
        raise
    got = dest.stat().st_size
    if size is not None and got != size:  # the connection closed early (urllib returns a short body)
        dest.unlink()
        raise ConnectionError(f"received {got:,} of {size:,} bytes, the connection dropped; the partial "
                              "download was discarded, try again")


def _missing_dirs(path: Path) -> list[Path]:
    """The ancestors of ``path`` that do not exist yet, deepest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


def fetch_released(
    name: str,
    cache_dir: PathLike | None = None,
    base_url: str = BASE_URL,
    sha256: Mapping[str, str] | None = None,
    progress: bool = True,
) -> tuple[Path, Path]:
    """Local paths of a released model's ``.model`` and ``.weights``, downloading what is missing.

    :param name: a key of :data:`RELEASED`.
    :param cache_dir: the cache (default :func:`default_cache_dir`).
    :param base_url: where the files are served (tests use a local server).
    :param sha256: expected sha256 (hex or a prefix of at least 4 digits) of some files, keyed by their path
        relative to ``base_url`` (e.g. ``"models/foundation-model-1x.weights"``); checked after download and
        also on files already in the cache.
    :param progress: show a progress bar per download.
    :raises FileNotFoundError: offline or a failed download; lists every file with its URL and destination.
    :raises CheckpointError: a downloaded or cached file fails its sha256/md5 or zip check (downloaded
        files are removed).
    """
    if name not in RELEASED:
        raise ValueError(f"unknown VPT model name {name!r}; released names: {sorted(RELEASED)}")
    entry = RELEASED[name]
    expected = dict(entry.digests)
    for rel, digest in (sha256 or {}).items():
        if rel not in entry.files:
            raise ValueError(f"sha256 given for {rel!r}, which is not a file of {name!r} {entry.files}")
        expected[rel] = f"sha256:{digest.lower()}"
    todo = [rel for rel in entry.files if not cached_path(rel, cache_dir).is_file()]
    if todo and offline():
        raise FileNotFoundError(
            f"VPT model {name!r} is not in the cache and downloads are off (offline: {offline_switches()}). "
            f"Download these files and put them here:\n{files_message(name, cache_dir, base_url)}\n"
            f"(the cache is $VPT_GYM_CACHE, default ~/.cache/vpt-gym; or pass the folder holding both files "
            "to from_pretrained)"
        )
    created_dirs: list[Path] = []
    downloaded: list[Path] = []
    try:
        for rel in todo:
            dest = cached_path(rel, cache_dir)
            created_dirs = _missing_dirs(dest) + created_dirs  # deepest first overall
            dest.parent.mkdir(parents=True, exist_ok=True)
            want = expected.get(rel, "")
            try:  # a sha256 is checked while downloading; a mismatching download is never written
                download_checked(base_url + rel, dest, want[7:] if want.startswith("sha256:") else None, progress)
            except CheckpointError:
                raise
            except (OSError, ValueError, http.client.HTTPException) as err:  # URLError, IncompleteRead, timeouts
                raise FileNotFoundError(
                    f"could not download {base_url}{rel} ({type(err).__name__}: {err}). VPT model {name!r} needs "
                    f"these files; download them by hand and put them here:\n{files_message(name, cache_dir, base_url)}"
                ) from err
            downloaded.append(dest)
            if rel.endswith(".weights"):
                verify_zip(dest)
            if want.startswith("md5:"):
                verify_digest(dest, want)
        for rel in entry.files:
            path = cached_path(rel, cache_dir)
            if rel in expected and path not in downloaded:
                try:
                    verify_digest(path, expected[rel])
                except CheckpointError as err:
                    raise CheckpointError(f"{err} (a file already in the cache: delete it and download it again)") from None
    except BaseException as err:
        for path in downloaded:
            path.unlink(missing_ok=True)
        for directory in created_dirs:
            try:
                directory.rmdir()
            except OSError:
                pass
        if isinstance(err, CheckpointError) and downloaded:
            raise CheckpointError(f"{err}; the files downloaded by this call were removed") from err
        raise
    return cached_path(entry.model_file, cache_dir), cached_path(entry.weights_file, cache_dir)
